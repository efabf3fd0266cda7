"""Windows that follow the eyes and the mouth, for a character whose drawings turn.

Where a character's drawings do not share one pose, each of the warp head's regions moves its own
drawing from that drawing's pose to the driver's, on a grid of its own (``WarpHead.forward``). The
rest of the face covers the picture, but an eye or the mouth covers only a patch of it: the
shipped base's regions, driven by 280 proxies of every pose and expression, reached at most 71 px
high and 81 px wide at 256 px. Sampled over the whole picture, the three of them took most of a
procedural demo character's sampling to draw those patches. So each is sampled only in a square
window of ``WINDOW`` of the side, set about its region's centre of mass on each frame, and laid
over the rest's drawing there by its region's weight; what a region weighs beyond its window goes
to the rest's drawing, as it does where the region ends. That character's frame in onnxruntime on a
2-core CPU: 34.0 -> 27.8 ms, its pictures the same within 1e-5 (tests/test_assets.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .head_motion import within

# The window's side, as a fraction of the picture's: 96 px at 256.
WINDOW = 0.375


def window_side(side: int) -> int:
    return max(1, round(WINDOW * int(side)))


def corners(regions: torch.Tensor, size: int, side: int) -> torch.Tensor:
    """regions [N,G,h,h] (each region's weight at the model's resolution) -> [N,G,2] the top-left
    pixel (x, y) at the picture's side of each region's window of ``size`` px: centred on the
    region's centre of mass, and inside the picture."""
    h = int(regions.shape[-1])
    centres = torch.from_numpy((np.arange(h, dtype=np.float32) + 0.5) * (side / h))  # cells' centres, in pixels
    mass = regions.sum((2, 3)).clamp(min=1e-6)
    x = (regions.sum(2) * centres).sum(-1) / mass
    y = (regions.sum(3) * centres).sum(-1) / mass
    return torch.round(torch.stack([x, y], -1) - size / 2).clamp(0, side - size)


def window_pixels(corner: torch.Tensor, size: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[N,G,2] corners -> the windows' pixel centres in grid coordinates [N,G,W,W,2] and their flat
    indices in the side x side picture [N,G,W*W]."""
    steps = torch.from_numpy(np.arange(size, dtype=np.float32))
    xs, ys = corner[..., 0:1] + steps, corner[..., 1:2] + steps  # [N,G,W] each
    gx, gy = (xs + 0.5) * (2 / side) - 1, (ys + 0.5) * (2 / side) - 1
    points = torch.stack([gx[:, :, None, :].expand(-1, -1, size, -1), gy[:, :, :, None].expand(-1, -1, -1, size)], -1)
    index = (ys[..., :, None] * side + xs[..., None, :]).long().flatten(2)
    return points, index


def at_points(field: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """field [N,G,C,h,h] at the model's resolution, read bilinearly at points [N,G,H,W,2] as
    enlarging it would (the edge cells reach to the border: :func:`~.head_motion.within`)
    -> [N,G,C,H,W]."""
    n, g, c, h, _ = field.shape
    out = F.grid_sample(field.reshape(n * g, c, h, h), within(points.flatten(0, 1), int(h)),
                        mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.view(n, g, c, *points.shape[2:4])


def lay_over(picture: torch.Tensor, patches: torch.Tensor, weights: torch.Tensor,
             index: torch.Tensor) -> torch.Tensor:
    """picture [N,C,S,S]; patches [N,C,G,W,W] drawn in the windows at ``index`` [N,G,W*W], and
    their weights [N,G,W,W] -> the picture with each patch laid over it by its weight: where
    windows overlap, the weights share the rest as the regions' softmax does."""
    c = picture.shape[1]
    flat = picture.flatten(2)  # [N,C,S*S]
    at = index.flatten(1)[:, None].expand(-1, c, -1)  # [N,C,G*W*W]
    change = weights.flatten(1)[:, None] * (patches.flatten(2) - flat.gather(2, at))
    return flat.scatter_add(2, at, change).view_as(picture)


def placed(weights: torch.Tensor, index: torch.Tensor, side: int) -> torch.Tensor:
    """[N,G,W,W] weights in their windows -> [N,G,S,S] over the picture (zero beyond)."""
    n, g = weights.shape[:2]
    return weights.new_zeros(n, g, side * side).scatter(2, index, weights.flatten(2)).view(n, g, side, side)
