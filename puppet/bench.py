"""Measurements of the live path, behind ``puppet bench``: one JSON-able dict per run.

``run_bench`` makes three runs of the driver clip through the full pipeline (real tracker,
driver preparation, character graph, compositing at 256 px, no recording):
- OFFLINE (every frame, stages overlapped on their threads): ``e2e_fps_cpu`` is its output
  rate from the first finished frame to the last (start-up, e.g. loading the face models, is
  not a per-frame cost), i.e. what the machine sustains end to end;
- LIVE with the clip paced at its own frame rate like a camera: ``stage_ms`` (mean per stage),
  ``latency_ms`` (median capture-to-output) and ``live_fps``;
- and, where a GPU provider loads, the same OFFLINE run on it (``e2e_fps_gpu``, ``infer_ms_gpu``).
Then tracking alone (``track_ms``), the procedural head renderer (``heads_128_per_s``,
``heads_256_per_s``) and the graph alone (``infer_ms_cpu``).

``run_soak`` runs N frames OFFLINE over the looping clip and samples resident memory.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from puppet.capture import VideoFileSource
from puppet.engine import Engine, EngineConfig
from puppet.pipeline import Mode, Pipeline, PipelineConfig, RunSummary

RSS_LIMIT_MB = 50.0


@dataclass(frozen=True)
class BenchConfig:
    character: str | Path | None = None  # library name or path; None: the first demo character
    driver: str | Path | None = None  # video file; None: the demo clip
    frames: int = 200
    device: str = "auto"
    heads_seconds: float = 1.0
    soak_warmup: int = 300  # frames before the first memory sample (caches, allocator pools)


def _resolve(config: BenchConfig) -> tuple[Path, Path]:
    from puppet.assets import demo_clip, first_demo_character
    from puppet.library import resolve_character

    character = resolve_character(config.character) if config.character else first_demo_character()
    driver = Path(config.driver) if config.driver else demo_clip()
    return character, driver


def run_pipeline(engine: Engine, driver: Path, frames: int, mode: Mode, loop: bool = False,
                 on_frame=None) -> tuple[RunSummary, float]:
    """One run over a clip; returns the summary and the wall time in seconds."""
    source = VideoFileSource(driver, realtime=mode is Mode.LIVE, loop=loop)
    config = PipelineConfig(mode=mode, max_frames=frames, stats_window=max(300, frames))
    pipe = Pipeline(engine, source, config, on_frame=on_frame)
    start = time.perf_counter()
    pipe.start()
    summary = pipe.wait()
    return summary, time.perf_counter() - start


def _infer_ms(engine: Engine, runs: int = 30) -> float:
    r = engine.driver_resolution
    driver = np.random.default_rng(0).random((1, 3, r, r), dtype=np.float32)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        engine.run(driver)
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times)


def run_bench(config: BenchConfig) -> dict:
    from puppet.heads import measure_render_rate
    from puppet.tracking import measure_track_ms

    character, driver = _resolve(config)
    cpu = Engine.load(character, EngineConfig(device="cpu"))
    offline, _ = run_pipeline(cpu, driver, config.frames, Mode.OFFLINE)
    live, _ = run_pipeline(cpu, driver, config.frames, Mode.LIVE)
    report: dict = {
        "character": cpu.name, "driver_resolution": cpu.driver_resolution, "output_resolution": cpu.output_resolution, "driver": driver.name,
        "frames": offline.frames_out, "cpu_count": os.cpu_count(), "ort_threads": cpu.config.threads(),
        "stage_ms": {k: round(v, 2) for k, v in live.stage_ms.items()},
        "e2e_fps_cpu": round(offline.fps, 2),
        "latency_ms": round(live.latency_ms, 1), "latency_p90_ms": round(live.latency_p90_ms, 1),
        "live_fps": round(live.fps, 2), "live_dropped": live.dropped,
        "infer_ms_cpu": round(_infer_ms(cpu), 2),
        "track_ms": round(measure_track_ms(driver, min(config.frames, 120)), 2),
        "heads_128_per_s": round(measure_render_rate(128, config.heads_seconds), 1),
        "heads_256_per_s": round(measure_render_rate(256, config.heads_seconds), 1),
        "errors": {**offline.errors, **live.errors},
        "error": offline.error or live.error,
        "provider": "CPU",
    }
    if config.device != "cpu":
        gpu = Engine.load(character, EngineConfig(device=config.device))
        report["provider"] = gpu.provider
        if gpu.notice:
            report["notice"] = gpu.notice
        if gpu.provider != "CPU":
            summary, _ = run_pipeline(gpu, driver, config.frames, Mode.OFFLINE)
            report["e2e_fps_gpu"] = round(summary.fps, 2)
            report["infer_ms_gpu"] = round(_infer_ms(gpu, 100), 3)
    return report


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if os.uname().sysname == "Darwin" else peak / 1024


def soak(engine: Engine, driver: Path, frames: int, warmup: int, samples: int = 20) -> dict:
    """Run ``frames`` frames OFFLINE over the looping clip; memory sampled after ``warmup``."""
    every = max(1, (frames - warmup) // samples)
    rss: list[float] = []

    def sample(result) -> None:
        n = result.index + 1
        if n >= warmup and (n - warmup) % every == 0:
            rss.append(rss_mb())

    summary, wall = run_pipeline(engine, driver, frames, Mode.OFFLINE, loop=True, on_frame=sample)
    rss.append(rss_mb())
    return {
        "frames": summary.frames_out, "fps": round(summary.frames_out / wall, 2),
        "rss_start_mb": round(rss[0], 1), "rss_end_mb": round(rss[-1], 1), "rss_max_mb": round(max(rss), 1),
        "rss_growth_mb": round(rss[-1] - rss[0], 1), "rss_limit_mb": RSS_LIMIT_MB,
        "errors": summary.errors, "error": summary.error,
    }


def run_soak(config: BenchConfig, frames: int) -> dict:
    character, driver = _resolve(config)
    engine = Engine.load(character, EngineConfig(device=config.device))
    report = soak(engine, driver, frames, warmup=min(config.soak_warmup, frames // 4))
    return {"character": engine.name, "driver": driver.name, "provider": engine.provider, "notice": engine.notice,
            **report}
