"""Drawing primitives: anti-aliased OpenCV polygons with 4 bits of sub-pixel precision."""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

SHIFT = 4  # sub-pixel bits for cv2 drawing
ONE = 1 << SHIFT
T = np.linspace(0, 1, 9)
CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 14, endpoint=False)),
                   np.sin(np.linspace(0, 2 * np.pi, 14, endpoint=False))], 1)


class Pen(NamedTuple):
    """Line widths in pixels for one render: silhouettes (0 = none) and facial features."""

    outline: int
    line: int
    ink: tuple[int, int, int]


def fix(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts) * ONE).astype(np.int32).reshape(-1, 1, 2)


def fill(img: np.ndarray, pts: np.ndarray, colour) -> None:
    cv2.fillPoly(img, [fix(pts)], colour, cv2.LINE_AA, SHIFT)


def stroke(img: np.ndarray, pts: np.ndarray, colour, width: int, closed: bool = True) -> None:
    if width > 0:
        cv2.polylines(img, [fix(pts)], closed, colour, width, cv2.LINE_AA, SHIFT)


def shape(img, mask, pts, colour, pen: Pen) -> None:
    """A filled, outlined silhouette shape that also belongs to the character's mask."""
    fill(img, pts, colour)
    fill(mask, pts, 255)
    stroke(img, pts, pen.ink, pen.outline)


def inside(img: np.ndarray, clip: np.ndarray, shapes: list) -> None:
    """Draw ``shapes`` (points, colour) only inside the polygon ``clip`` (an eye opening)."""
    x0, y0 = np.floor(clip.min(0)).astype(int) - 1
    x1, y1 = np.ceil(clip.max(0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, img.shape[1]), min(y1, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    layer = roi.copy()
    for pts, colour in shapes:
        fill(layer, pts - [x0, y0], colour)
    alpha = np.zeros(roi.shape[:2], np.uint8)
    fill(alpha, clip - [x0, y0], 255)
    a = alpha[..., None].astype(np.uint16)
    roi[:] = ((layer * a + roi * (255 - a) + 127) // 255).astype(np.uint8)


def hull(pts2: np.ndarray) -> np.ndarray:
    return cv2.convexHull(pts2.astype(np.float32)).reshape(-1, 2)


def shade(colour, f: float):
    return tuple(int(min(255, c * f)) for c in colour)
