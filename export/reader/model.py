"""The expression reader's network: a small CNN over the image and its change from its set's median."""

from __future__ import annotations

import torch
from torch import nn

from puppet.expression_reader import FACE_SLOTS, IN_CHANNELS

LOG_VAR_RANGE = (-7.0, 3.0)


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ReaderNet(nn.Module):
    """[N, 6, 128, 128] -> (mean [N, S], log variance [N, S]) for the S face slots.

    A 2x2 pooled map keeps where things are (which eye is the left one); a global max keeps a
    small feature (an eye a few pixels wide) that averaging would dilute."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv(IN_CHANNELS, w, 2), _conv(w, w * 3 // 2, 2), _conv(w * 3 // 2, w * 3 // 2, 1),
            _conv(w * 3 // 2, w * 2, 2), _conv(w * 2, w * 2, 1), _conv(w * 2, w * 3, 2), _conv(w * 3, w * 3, 1),
        )
        self.pool = nn.AdaptiveAvgPool2d(2)
        n = len(FACE_SLOTS)
        self.head = nn.Sequential(nn.Linear(w * 3 * 5, 128), nn.ReLU(inplace=True), nn.Linear(128, 2 * n))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        pooled = torch.cat([self.pool(f).flatten(1), f.amax(dim=(2, 3))], 1)
        mean, log_var = self.head(pooled).chunk(2, dim=1)
        return mean, log_var.clamp(*LOG_VAR_RANGE)
