"""Which cameras exist and which of the usual sizes each one grants.

Opening a device can take a second or more, so this runs off the interface thread. Only the
capture properties are read back (no frames), which keeps the probe cheap. OpenCV's log is
silenced meanwhile: every missing index would print a warning or two on stderr.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2

SIZES = ((640, 480), (1280, 720), (1920, 1080))
PROBED_INDICES = range(5)
_LOG_SILENT = 0  # cv::utils::logging::LOG_LEVEL_SILENT


@dataclass(frozen=True)
class CameraInfo:
    index: int
    sizes: tuple[tuple[int, int], ...]


def probe_cameras(indices=PROBED_INDICES) -> list[CameraInfo]:
    previous = cv2.setLogLevel(_LOG_SILENT)
    try:
        return [info for i in indices if (info := _probe(i)) is not None]
    finally:
        cv2.setLogLevel(previous)


def _probe(index: int) -> CameraInfo | None:
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        cap.release()
        return None
    sizes = []
    for w, h in SIZES:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        granted = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if granted == (w, h):
            sizes.append(granted)
    cap.release()
    # A driver that answers no size query still streams something: offer the smallest.
    return CameraInfo(index, tuple(sizes) or SIZES[:1])
