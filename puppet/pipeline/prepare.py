"""Driver preparation: a camera frame and its tracking result -> the graph's input tensor.

What drives a character is declared by its bundle (``Manifest.driving_mode``):
- ``face``: a square crop around the tracked face, ``crop_scale`` times the face size, at the
  graph's resolution. Until a face has been seen, a centred square crop; when the face is lost
  the last box is kept (the character holds still instead of jumping).
- ``proxy``: the procedural head of identity ``proxy_seed`` drawn with the tracked (or
  slider-given) expression parameters; the last parameters are kept while no face is found.
"""

from __future__ import annotations

import numpy as np

from puppet.bundle import Manifest
from puppet.params import neutral


def to_tensor(image: np.ndarray) -> np.ndarray:
    """uint8 [R,R,3] RGB -> float32 [1,3,R,R] in [0,1]."""
    chw = image.transpose(2, 0, 1)  # [R,R,3] -> [3,R,R]
    return (chw[None].astype(np.float32) * np.float32(1 / 255))  # [3,R,R] -> [1,3,R,R]


class DriverPreparer:
    """Per-character state for driver preparation (last face box, last parameters)."""

    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        self._box: tuple[float, float, float] | None = None
        self._params = neutral()
        self._identity = None
        if manifest.driving_mode == "proxy":
            from puppet.heads import Identity

            self._identity = Identity.from_seed(manifest.proxy_seed)

    def image(self, frame: np.ndarray, box: tuple[float, float, float] | None,
              params: np.ndarray | None) -> np.ndarray:
        """uint8 [R,R,3] RGB: what the graph will see (also shown by the GUI as the driver)."""
        m = self.manifest
        if params is not None:
            self._params = params
        if m.driving_mode == "proxy":
            from puppet.heads import render_head

            return render_head(self._identity, self._params, m.resolution).rgb
        from puppet.tracking import crop_face

        if box is not None:
            self._box = box
        if self._box is None:
            h, w = frame.shape[:2]
            # A centred square of the frame's short side: crop_face takes the face size.
            return crop_face(frame, (w / 2, h / 2, min(h, w) / m.crop_scale), m.resolution, m.crop_scale)
        return crop_face(frame, self._box, m.resolution, m.crop_scale)

    def tensor(self, frame: np.ndarray, box: tuple[float, float, float] | None,
               params: np.ndarray | None) -> np.ndarray:
        """float32 [1,3,R,R] in [0,1]."""
        return to_tensor(self.image(frame, box, params))
