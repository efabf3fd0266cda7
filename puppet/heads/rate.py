"""Render rate for ``puppet bench``: renders per second on one thread."""

from __future__ import annotations

import time

import cv2
import numpy as np

from puppet import params

from .identity import Identity
from .render import render_head


def measure_render_rate(size: int, seconds: float = 1.0, world: str = "classic") -> float:
    """Renders/s of varied identities of ``world`` and parameters at size x size, OpenCV on one thread."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        rng = np.random.default_rng(0)
        cases = [(Identity.from_seed(int(s), world), params.sample(rng)) for s in rng.integers(1, 10**6, 64)]
        for ident, p in cases[:8]:
            render_head(ident, p, size)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            ident, p = cases[n % len(cases)]
            render_head(ident, p, size)
            n += 1
        return n / (time.perf_counter() - start)
    finally:
        cv2.setNumThreads(before)
