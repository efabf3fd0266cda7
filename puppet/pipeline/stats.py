"""What a run measures: per-frame stage times, the bounded running statistics over them, and
the summary a pipeline hands back (``stats()``, ``stop()``, ``on_finished``)."""

from __future__ import annotations

import statistics
import threading
from collections import Counter, deque
from dataclasses import dataclass

from puppet.recording import RecordingResult

STAGES = ("capture", "track", "prepare", "infer", "compose")


@dataclass(frozen=True)
class StageTimes:
    """Milliseconds per stage for one frame, and capture-to-output latency."""

    capture: float
    track: float
    prepare: float
    infer: float
    compose: float
    latency: float


@dataclass(frozen=True)
class RunSummary:
    frames_in: int  # frames read from the source
    frames_out: int  # frames composited and presented
    dropped: dict[str, int]  # stale frames replaced in each LIVE hand-off
    errors: dict[str, int]  # per-frame exceptions counted per stage
    error: str | None  # what ended the run early (a vanished camera, a full disk), else None
    stage_ms: dict[str, float]  # mean per stage over the last stats_window frames
    latency_ms: float  # median capture-to-output over the same frames
    latency_p90_ms: float
    fps: float  # output frames per second over the same frames
    provider: str
    recording: RecordingResult | None = None

    def line(self) -> str:
        """One line of timings for a status bar or a log."""
        stages = " ".join(f"{k} {v:.1f}" for k, v in self.stage_ms.items())
        return (f"{self.fps:5.1f} fps | {stages} ms | latency {self.latency_ms:.0f} ms | "
                f"dropped {sum(self.dropped.values())} | errors {sum(self.errors.values())} | {self.provider}")


class RunStats:
    """Bounded running statistics (constant memory over any run length), fed from the output
    thread and read from any thread."""

    def __init__(self, window: int):
        self._lock = threading.Lock()
        self.frames_out = 0
        self.errors: Counter[str] = Counter()
        self._times: deque[StageTimes] = deque(maxlen=window)
        self._outputs: deque[float] = deque(maxlen=window)

    def add(self, times: StageTimes, t_out: float) -> None:
        with self._lock:
            self.frames_out += 1
            self._times.append(times)
            self._outputs.append(t_out)

    def error(self, stage: str) -> int:
        with self._lock:
            self.errors[stage] += 1
            return self.errors[stage]

    def error_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.errors)

    def snapshot(self) -> tuple[dict[str, float], float, float, float]:
        """Mean ms per stage, median and 90th-percentile latency, output fps."""
        with self._lock:
            times, outputs = list(self._times), list(self._outputs)
        if not times:
            return {s: 0.0 for s in STAGES}, 0.0, 0.0, 0.0
        stage_ms = {s: statistics.fmean(getattr(t, s) for t in times) for s in STAGES}
        lat = sorted(t.latency for t in times)
        fps = (len(outputs) - 1) / (outputs[-1] - outputs[0]) if len(outputs) > 1 and outputs[-1] > outputs[0] else 0.0
        return stage_ms, statistics.median(lat), lat[min(len(lat) - 1, int(0.9 * len(lat)))], fps
