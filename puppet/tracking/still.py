"""Face box and expression of single still images (source images of a character)."""

from __future__ import annotations

import numpy as np

from .crop import Box, as_rgb
from .expression import ExpressionConfig, measure, to_params
from .landmarks import FaceMesh


def _landmarks(image: np.ndarray) -> np.ndarray | None:
    rgb = as_rgb(image)
    if min(rgb.shape[:2]) < 32:
        return None
    mesh = FaceMesh(static=True, max_faces=1)
    try:
        faces = mesh(rgb)
    finally:
        mesh.close()
    return faces[0] if faces else None


def detect_face_box(image: np.ndarray) -> Box | None:
    """(cx, cy, size) of the face in one image, or None when no face is found."""
    pts = _landmarks(image)
    if pts is None:
        return None
    x0, y0 = pts[:, :2].min(0)
    x1, y1 = pts[:, :2].max(0)
    return float((x0 + x1) / 2), float((y0 + y1) / 2), float(max(x1 - x0, y1 - y0))


def estimate_params(image: np.ndarray) -> np.ndarray | None:
    """The expression of a face in one image, read against a typical resting face (no
    calibration is possible from one picture), or None when no face is found."""
    pts = _landmarks(image)
    if pts is None:
        return None
    h, w = image.shape[:2]
    return to_params(measure(pts), None, ExpressionConfig(), (w, h))
