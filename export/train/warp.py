"""Warps of a character's source image that stand in for head motion its sources do not show.

Fine-tuning pairs each warped source with a proxy render whose parameters moved by the same
amount, so the character learns to follow those parameters. Both warps use the proxy framing
(head centre at ``CENTRE``, face half-height ``UNIT`` of the side), which every source crop shares.

- ``turn``: yaw and pitch as 2.5-D parallax. The head is taken as an ellipsoid; a point at depth
  z shifts by z*sin(angle) as the renderer's head turns, so the middle of the face moves most
  and the outline stays (as on the procedural heads, whose silhouette barely moves).
- ``affine``: roll, offset and scale, exact for a flat picture.
"""

from __future__ import annotations

import cv2
import numpy as np

from puppet.heads import CENTRE, PROXY
from puppet.heads.render import UNIT


def face_coords(res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Pixel grids x, y [R,R], the same as coordinates on the proxy's face ellipse (u, v: 0 at
    the head centre, 1 on the outline), and the face's half-height in pixels."""
    half = UNIT * res * PROXY.head_size
    ys, xs = np.mgrid[0:res, 0:res].astype(np.float32)
    return xs, ys, (xs - CENTRE[0] * res) / (half * PROXY.face_width), (ys - CENTRE[1] * res) / half, half


def turn(img: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """[C,R,R] float image with its face turned by ``yaw`` / ``pitch`` degrees (signs as in
    :mod:`puppet.params`: + yaw moves the face to screen right, + pitch lifts the chin)."""
    c, r, _ = img.shape
    xs, ys, u, v, half = face_coords(r)
    depth = PROXY.face_depth * half * np.sqrt(np.clip(1 - u * u - v * v, 0, None))  # pixels towards the viewer
    dx = depth * np.sin(np.radians(yaw))
    dy = -depth * np.sin(np.radians(pitch))
    # Backward map, displacement read at the output pixel: close enough for shifts of a few pixels.
    out = cv2.remap(img.transpose(1, 2, 0), xs - dx, ys - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=0)
    return out.reshape(r, r, c).transpose(2, 0, 1)  # [R,R,C] -> [C,R,R]


def affine(img: np.ndarray, roll: float, dx: float, dy: float, scale: float) -> np.ndarray:
    """[C,R,R] float image turned clockwise by ``roll`` degrees, scaled and shifted (fractions of
    the side) about the head centre, as the renderer turns, scales and shifts the proxy."""
    c, r, _ = img.shape
    m = cv2.getRotationMatrix2D((CENTRE[0] * r, CENTRE[1] * r), -roll, scale)
    m[:, 2] += (dx * r, dy * r)
    out = cv2.warpAffine(img.transpose(1, 2, 0), m, (r, r), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(r, r, c).transpose(2, 0, 1)  # [R,R,C] -> [C,R,R]
