"""One-Euro filter (Casiez et al. 2012): still signals stay still, fast moves follow without lag."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroConfig:
    min_cutoff: float = 1.0  # Hz: lower = steadier when still
    beta: float = 0.05  # how fast the cutoff rises with speed: higher = less lag on fast moves
    d_cutoff: float = 1.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuro:
    """Filters a vector signal; ``min_cutoff`` and ``beta`` may be per component."""

    def __init__(self, cfg: OneEuroConfig = OneEuroConfig(), min_cutoff: np.ndarray | None = None,
                 beta: np.ndarray | None = None):
        self.cfg = cfg
        self.min_cutoff = cfg.min_cutoff if min_cutoff is None else min_cutoff
        self.beta = cfg.beta if beta is None else beta
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    def reset(self) -> None:
        self.x = self.dx = self.t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None or self.t is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        self.dx = self.dx + _alpha(self.cfg.d_cutoff, dt) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        self.x = self.x + _alpha(cutoff, dt) * (x - self.x)
        self.t = t
        return self.x.copy()
