"""Warps of a character's source image that stand in for head motion its sources do not show.

Fine-tuning pairs each warped source with a proxy render whose parameters moved by the same
amount, so the character learns to follow those parameters. Both warps use the proxy framing
(head centre at ``CENTRE``, face half-height ``UNIT`` of the side), which every source crop shares.

- ``turn``: yaw and pitch as 2.5-D parallax, the warp head's own (:mod:`export.models.head_motion`).
  The head is taken as an ellipsoid; a point at depth z shifts by z*sin(angle) as the renderer's
  head turns, so the middle of the face moves most and the outline stays (as on the procedural
  heads, whose silhouette barely moves).
- ``affine``: roll, offset and scale, exact for a flat picture.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from puppet import params as P
from puppet.heads import CENTRE

from ..models.head_motion import head_motion_grid, identity_grid


def turn(img: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """[C,R,R] float image with its face turned by ``yaw`` / ``pitch`` degrees (signs as in
    :mod:`puppet.params`: + yaw moves the face to screen right, + pitch lifts the chin): the warp
    head's parallax (:func:`~export.models.head_motion.head_motion_grid`) from rest to that pose."""
    r = img.shape[-1]
    grid = head_motion_grid(identity_grid(r)[None], torch.from_numpy(P.make(yaw=yaw, pitch=pitch))[None],
                            torch.from_numpy(P.neutral())[None, None])[:, 0]  # [1,R,R,2]
    out = F.grid_sample(torch.from_numpy(np.ascontiguousarray(img, np.float32))[None], grid, mode="bilinear",
                        padding_mode="zeros", align_corners=False)
    return out[0].numpy()


def affine(img: np.ndarray, roll: float, dx: float, dy: float, scale: float) -> np.ndarray:
    """[C,R,R] float image turned clockwise by ``roll`` degrees, scaled and shifted (fractions of
    the side) about the head centre, as the renderer turns, scales and shifts the proxy."""
    c, r, _ = img.shape
    m = cv2.getRotationMatrix2D((CENTRE[0] * r, CENTRE[1] * r), -roll, scale)
    m[:, 2] += (dx * r, dy * r)
    out = cv2.warpAffine(img.transpose(1, 2, 0), m, (r, r), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(r, r, c).transpose(2, 0, 1)  # [R,R,C] -> [C,R,R]
