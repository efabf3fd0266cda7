"""The AdaIN generator of latent pose reenactment.

A learned constant is decoded by pre-activation residual blocks; identity and pose reach the image
only through the AdaIN scales and shifts, which an MLP computes from ``concat(identity, pose)``.
The layer order and parameter slicing follow the released model (see ``lpr_checkpoint``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .warp_head import WARP_CHANNELS

ADAIN_EPS = 1e-4


def adain(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Instance norm without affine, then a per-sample scale and shift. gamma, beta: [N, C]."""
    x = F.instance_norm(x, eps=ADAIN_EPS)
    return x * gamma[:, :, None, None] + beta[:, :, None, None]


class ResBlock(nn.Module):
    """AdaIN, ReLU, [nearest x2], conv3x3, AdaIN, ReLU, conv3x3; skip = conv1x1 if needed, [x2].

    The attribute names mirror the released model's ``block.{i}`` indices only in the converter;
    here they are named for what they are.
    """

    def __init__(self, cin: int, cout: int, upsample: bool):
        super().__init__()
        self.cin, self.cout, self.upsample = cin, cout, upsample
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.skip = nn.Conv2d(cin, cout, 1) if (upsample or cin != cout) else None

    @property
    def adain_channels(self) -> tuple[int, int]:
        return self.cin, self.cout

    def forward(self, x: torch.Tensor, params: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        (g0, b0), (g1, b1) = params
        h = F.relu(adain(x, g0, b0))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(adain(self.conv1(h), g1, b1)))
        skip = self.skip(x) if self.skip is not None else x
        if self.upsample:  # after the 1x1 convolution, which commutes with nearest upsampling: a
            # quarter of its work (a procedural demo character's frame: 27.8 -> 27.5 ms, the same picture)
            skip = F.interpolate(skip, scale_factor=2.0, mode="nearest")
        return h + skip


class Generator(nn.Module):
    """``forward(identity [N,I], pose [N,P]) -> (rgb [N,3,H,W] in -0.25..1.25, mask [N,1,H,W])``
    for the synthesis head; ``raw`` gives the output convolution's maps, which the warp head reads."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        ch = cfg.gen_channels
        self.constant = nn.Parameter(torch.ones(1, ch[0], 4, 4))
        blocks = [ResBlock(ch[0], ch[0], upsample=False) for _ in range(cfg.gen_res_blocks)]
        blocks += [ResBlock(a, b, upsample=True) for a, b in zip(ch[:-1], ch[1:])]
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = ch[-1]
        self.out_conv = nn.Conv2d(ch[-1], WARP_CHANNELS if cfg.head == "warp" else 4, 3, 1, 1)
        # AdaIN channel counts in application order; the last one is the output AdaIN.
        self.adain_sizes = [c for blk in self.blocks for c in blk.adain_channels] + [ch[-1]]
        joint = cfg.identity_dim + cfg.pose_dim
        self.mlp = nn.Sequential(
            nn.Linear(joint, cfg.mlp_hidden), nn.ReLU(inplace=True),
            nn.Linear(cfg.mlp_hidden, 2 * sum(self.adain_sizes)),
        )

    def adain_params(self, identity: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """[N, I], [N, P] -> [N, 2 * sum(C)]: per layer, C shifts (beta) then C scales (gamma)."""
        return self.mlp(torch.cat([identity, pose], dim=1))

    def raw(self, params: torch.Tensor) -> torch.Tensor:
        """AdaIN parameters [N, 2 * sum(C)] -> output maps [N, 4 or WARP_CHANNELS, H, W] before
        any activation."""
        layers: list[tuple[torch.Tensor, torch.Tensor]] = []
        offset = 0
        for c in self.adain_sizes:
            beta = params[:, offset:offset + c]
            gamma = params[:, offset + c:offset + 2 * c]
            layers.append((gamma, beta))
            offset += 2 * c
        # The [1,C,4,4] constant meets the [N,...] AdaIN parameters by broadcasting in the first
        # block; an explicit expand would hide the channel count from the ONNX tracer.
        x = self.constant
        for i, blk in enumerate(self.blocks):
            x = blk(x, layers[2 * i:2 * i + 2])
        gamma, beta = layers[-1]
        return self.out_conv(F.relu(adain(x, gamma, beta)))

    def decode(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The synthesis head: AdaIN parameters -> rgb [N,3,H,W], mask [N,1,H,W]."""
        x = torch.tanh(self.raw(params))
        rgb = x[:, :3] * 0.75 + 0.5  # tanh range stretched to -0.25..1.25, as released
        mask = x[:, 3:] * 0.5 + 0.5
        return rgb, mask

    def forward(self, identity: torch.Tensor, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decode(self.adain_params(identity, pose))
