"""Projection discriminator (training only).

Down-sampling residual blocks, global sum pooling, then ``score = linear(h) + <h, e>``. The
released model keeps one learned row ``e`` per training video; a stream of procedural identities
has no finite list of videos, so ``e`` here is a learned projection of the identity embedding
(for a fine-tuned character, of its own trainable embedding), which plays the same role.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .config import ModelConfig


def _sn(module: nn.Module) -> nn.Module:
    return spectral_norm(module, eps=1e-4)


class DownBlock(nn.Module):
    """[ReLU], conv3x3, ReLU, conv3x3, avgpool2; skip conv1x1, avgpool2 (no normalisation)."""

    def __init__(self, cin: int, cout: int, preactivate: bool):
        super().__init__()
        self.preactivate = preactivate
        self.conv1 = _sn(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = _sn(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = _sn(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivate else x
        h = self.conv2(F.relu(self.conv1(h)))
        return F.avg_pool2d(h, 2) + F.avg_pool2d(self.skip(x), 2)


class Discriminator(nn.Module):
    """``forward(image [N,3,H,W], identity [N,I]) -> (score [N], features: list of maps)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        ch = (3,) + tuple(cfg.disc_channels)
        self.blocks = nn.ModuleList(DownBlock(a, b, preactivate=i > 0)
                                    for i, (a, b) in enumerate(zip(ch[:-1], ch[1:])))
        self.linear = _sn(nn.Linear(ch[-1], 1))
        self.project = _sn(nn.Linear(cfg.identity_dim, ch[-1], bias=False))

    def forward(self, image: torch.Tensor, identity: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        h = image
        for blk in self.blocks:
            h = blk(h)
            feats.append(h)
        h = F.relu(h).sum((2, 3))  # [N, C, H, W] -> [N, C]
        score = self.linear(h)[:, 0] + (h * self.project(identity)).sum(1)
        return score, feats
