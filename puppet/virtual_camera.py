"""Finished frames to the system's virtual camera, for video calls and streaming software.

pyvirtualcam (``pip install 'puppet[virtualcam]'``) reaches v4l2loopback on Linux and OBS's
virtual camera on Windows and macOS. Both ``puppet render --virtual-camera`` and the window's
toggle use this one sink::

    cam = VirtualCamera(fps=30.0)   # VirtualCameraError: pyvirtualcam is not installed
    cam.open(width, height)         # VirtualCameraError: no virtual camera device
    cam.send(image)                 # uint8 [H,W,3] or [H,W,4]; opens on the first frame if needed
    cam.close()
"""

from __future__ import annotations

from types import ModuleType

import cv2
import numpy as np

INSTALL = "pip install 'puppet[virtualcam]'"


class VirtualCameraError(RuntimeError):
    """No virtual camera to send to; the message says what is missing."""


def require_pyvirtualcam() -> ModuleType:
    """The pyvirtualcam module, or VirtualCameraError saying how to install it."""
    try:
        import pyvirtualcam
    except ImportError:
        raise VirtualCameraError(f"the virtual camera needs pyvirtualcam: {INSTALL}") from None
    return pyvirtualcam


def letterbox(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` [H,W,C] scaled to fit ``size`` (width, height) with its aspect ratio kept and
    centred on black, so that the whole picture shows undistorted."""
    width, height = size
    h, w = rgb.shape[:2]
    if (w, h) == (width, height):
        return rgb
    scale = min(width / w, height / h)
    fit_w, fit_h = max(1, round(w * scale)), max(1, round(h * scale))
    x, y = (width - fit_w) // 2, (height - fit_h) // 2
    out = np.zeros((height, width, *rgb.shape[2:]), rgb.dtype)
    out[y:y + fit_h, x:x + fit_w] = cv2.resize(rgb, (fit_w, fit_h), interpolation=cv2.INTER_AREA)
    return out


class VirtualCamera:
    """One virtual camera device, held open from ``open`` (or the first ``send``) to ``close``.
    The device keeps the size it was opened with: later frames of another size (side by side
    switched on) are letterboxed into it."""

    def __init__(self, fps: float = 30.0):
        self._module = require_pyvirtualcam()
        self.fps = fps
        self._cam = None
        self.size: tuple[int, int] | None = None  # width, height of the device

    @property
    def device(self) -> str | None:
        """The device's name (e.g. /dev/video2) while open."""
        return None if self._cam is None else str(self._cam.device)

    def open(self, width: int, height: int) -> None:
        if self._cam is not None:
            return
        try:
            self._cam = self._module.Camera(width=width, height=height, fps=self.fps)
        except (RuntimeError, OSError) as e:
            raise VirtualCameraError(f"virtual camera: no device available ({e})") from None
        self.size = (width, height)

    def send(self, image: np.ndarray) -> None:
        rgb = np.ascontiguousarray(image[..., :3])  # a virtual camera has no alpha
        if self._cam is None:
            self.open(rgb.shape[1], rgb.shape[0])
        else:
            rgb = letterbox(rgb, self.size)
        try:
            self._cam.send(rgb)
        except (RuntimeError, OSError) as e:
            raise VirtualCameraError(f"virtual camera {self.device}: cannot send ({e})") from None

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            cam.close()
