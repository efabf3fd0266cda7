"""Square crops resized to the model's resolution, padded with black where they leave the frame.

The latent-pose face crop is a square of side ``scale`` x the face size about the face centre;
source images of a character share :func:`crop_square` with it, so a source and a driver frame
are resampled alike.
"""

from __future__ import annotations

import cv2
import numpy as np

from puppet.bundle import FACE_CROP_SCALE

Box = tuple[float, float, float]  # centre x, centre y, face size (pixels)
Square = tuple[float, float, float]  # centre x, centre y, side (pixels)


def as_rgb(frame: np.ndarray) -> np.ndarray:
    """Any uint8 frame (H,W), (H,W,1), (H,W,3) or (H,W,4) as contiguous RGB (H,W,3)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return cv2.cvtColor(frame[..., 0], cv2.COLOR_GRAY2RGB)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return np.ascontiguousarray(frame[..., :3])
    if frame.ndim == 3 and frame.shape[2] == 3:
        return np.ascontiguousarray(frame)
    raise ValueError(f"a frame must be H x W with 1, 3 or 4 channels, not shape {frame.shape}")


def face_square(box: Box, scale: float = FACE_CROP_SCALE) -> Square:
    """The latent-pose crop of a face box."""
    cx, cy, size = box
    return cx, cy, max(size * scale, 1.0)


def crop_square(image: np.ndarray, square: Square, resolution: int) -> np.ndarray:
    """``image`` (H,W) or (H,W,C), uint8 or float, over ``square`` at resolution x resolution."""
    cx, cy, side = square
    k = resolution / side
    m = np.array([[k, 0, resolution / 2 - cx * k], [0, k, resolution / 2 - cy * k]], np.float32)
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, m, (resolution, resolution), flags=interp,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_face(frame: np.ndarray, box: Box | None, resolution: int,
              scale: float = FACE_CROP_SCALE) -> np.ndarray:
    """uint8 [resolution, resolution, 3]. With no box, the centred square of the frame."""
    frame = as_rgb(frame)
    h, w = frame.shape[:2]
    square = (w / 2, h / 2, float(min(h, w))) if box is None else face_square(box, scale)
    return crop_square(frame, square, resolution)
