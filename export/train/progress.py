"""A one-line progress bar with rate and ETA, on stderr."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, start: int = 0, label: str = "", enabled: bool = True):
        self.total, self.start_step, self.label, self.enabled = total, start, label, enabled
        self.t0 = time.time()

    def update(self, step: int, extra: str = "") -> None:
        if not self.enabled:
            return
        done = step - self.start_step
        rate = done / max(time.time() - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        bar = "#" * int(30 * step / self.total)
        eta_s = f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}" if eta < 1e7 else "?"
        print(f"\r{self.label}[{bar:30s}] {step}/{self.total} {rate:.2f} it/s ETA {eta_s} {extra}",
              end="\n" if step >= self.total else "", file=sys.stderr, flush=True)
