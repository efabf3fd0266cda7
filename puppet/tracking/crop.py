"""The latent-pose face crop: a square of side ``scale`` x the face size about the face centre,
padded where it leaves the frame, resized to the model's resolution."""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[float, float, float]  # centre x, centre y, face size (pixels)


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


def crop_face(frame: np.ndarray, box: Box | None, resolution: int, scale: float = 1.8) -> np.ndarray:
    """uint8 [resolution, resolution, 3]. With no box, the centred square of the frame."""
    frame = as_rgb(frame)
    h, w = frame.shape[:2]
    if box is None:
        cx, cy, side = w / 2, h / 2, float(min(h, w))
    else:
        cx, cy, size = box
        side = max(size * scale, 1.0)
    k = resolution / side
    m = np.array([[k, 0, resolution / 2 - cx * k], [0, k, resolution / 2 - cy * k]], np.float32)
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(frame, m, (resolution, resolution), flags=interp,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
