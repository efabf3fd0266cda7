"""Driver preparation: a camera frame and its tracking result -> the graph's input.

What drives a character is declared by its bundle (``Manifest.driving_mode``):
- ``face``: a square crop around the tracked face, ``crop_scale`` times the face size, at the
  graph's resolution; the centred square of the frame until a face has been seen (the tracker
  keeps the last box while the face is lost, so the character holds still instead of jumping);
- ``proxy``: the procedural head of identity ``proxy_seed`` drawn with the tracked (or
  slider-given) expression parameters.
"""

from __future__ import annotations

import numpy as np

from puppet.bundle import Manifest
from puppet.heads import Identity, render_head
from puppet.tracking import Box, crop_face


def to_tensor(image: np.ndarray) -> np.ndarray:
    """uint8 [R,R,3] RGB -> float32 [1,3,R,R] in [0,1]."""
    chw = image.transpose(2, 0, 1)  # [R,R,3] -> [3,R,R]
    return chw[None].astype(np.float32) * np.float32(1 / 255)  # [3,R,R] -> [1,3,R,R]


class DriverPreparer:
    """Prepares driver images for one character (holds its proxy identity)."""

    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        self._identity = Identity.from_seed(manifest.proxy_seed) if manifest.driving_mode == "proxy" else None

    def image(self, frame: np.ndarray, box: Box | None, params: np.ndarray) -> np.ndarray:
        """uint8 [R,R,3] RGB: what the graph will see (the GUI may show it as the driver)."""
        m = self.manifest
        if self._identity is not None:
            return render_head(self._identity, params, m.driver_resolution).rgb
        return crop_face(frame, box, m.driver_resolution, m.crop_scale)
