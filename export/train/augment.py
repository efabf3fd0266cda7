"""Augmentation of the pose encoder's input: what keeps identity out of the pose code.

Per the method, only the pose input is augmented: blur, sharpening, noise, JPEG, brightness /
contrast / saturation, a smooth elastic warp, and independent x/y scaling. numpy/OpenCV on one
image, so it runs in data-loader workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PoseAugment:
    p_blur: float = 0.3
    p_sharpen: float = 0.2
    p_noise: float = 0.3
    p_jpeg: float = 0.3
    colour: float = 0.25  # max relative change of brightness, contrast, saturation
    elastic: float = 0.02  # displacement amplitude, fraction of the side
    scale: tuple[float, float] = (0.8, 1.2)

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """uint8 [S,S,3] RGB -> augmented uint8 [S,S,3]."""
        s = img.shape[0]
        # Independent x/y scale about the centre, plus the elastic field, in one remap.
        sx, sy = rng.uniform(*self.scale, size=2)
        coarse = rng.normal(0, self.elastic * s, size=(2, 4, 4)).astype(np.float32)
        dx, dy = (cv2.resize(c, (s, s), interpolation=cv2.INTER_CUBIC) for c in coarse)
        grid = np.arange(s, dtype=np.float32) - s / 2
        map_x = (grid[None, :] / sx + s / 2 + dx).astype(np.float32)
        map_y = (grid[:, None] / sy + s / 2 + dy).astype(np.float32)
        out = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        f = out.astype(np.float32)
        b, c, sat = 1 + rng.uniform(-self.colour, self.colour, 3)
        grey = f.mean(axis=2, keepdims=True)
        f = (grey + (f - grey) * sat - 128) * c + 128
        f *= b
        if rng.random() < self.p_blur:
            k = int(rng.choice([3, 5]))
            f = cv2.GaussianBlur(f, (k, k), 0)
        elif rng.random() < self.p_sharpen:
            f = f + 0.8 * (f - cv2.GaussianBlur(f, (3, 3), 0))
        if rng.random() < self.p_noise:
            f = f + rng.normal(0, rng.uniform(2, 10), f.shape)
        out = np.clip(f, 0, 255).astype(np.uint8)
        if rng.random() < self.p_jpeg:
            _, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        return out
