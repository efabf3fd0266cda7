"""Tracking speed for ``puppet bench``."""

from __future__ import annotations

import time
from pathlib import Path

import av

from .tracker import FaceTracker


def measure_track_ms(video_path: str | Path, frames: int = 100) -> float:
    """Mean ms per frame of tracking plus parameter extraction over the first frames of a video."""
    with av.open(str(video_path)) as container:
        images = []
        for f in container.decode(video=0):
            images.append(f.to_ndarray(format="rgb24"))
            if len(images) >= frames:
                break
    with FaceTracker() as tracker:
        tracker.process(images[0], 0.0)  # model load and first detection are not per-frame costs
        start = time.perf_counter()
        for i, img in enumerate(images[1:], 1):
            tracker.process(img, i / 24)
        return (time.perf_counter() - start) / max(len(images) - 1, 1) * 1000
