"""Speed of the character graph (pose encoder + generator) per preset, in PyTorch and onnxruntime.

Random weights: speed does not depend on them. Prints one line per (preset, runtime, device) and,
with ``--json``, one JSON object. onnxruntime runs in the program's own engine
(:class:`puppet.engine.Engine`: its sessions, threads and, on CUDA, bound buffers and graph
replay), so its rows are what the program gets; the engine runs batch 1 on CUDA, as live.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from puppet import params as P
from puppet.bundle import Bundle, Manifest
from puppet.engine import Engine, EngineConfig

from .character import MAX_REFERENCES, OUTPUT_RESOLUTION
from .models import LatentPoseModel, create_model
from .onnx_export import character_graph, export_onnx, to_fp16


@dataclass(frozen=True)
class BenchConfig:
    presets: tuple[str, ...] = ("toon", "lpr256")
    batch: int = 1
    warmup: int = 3
    seconds: float = 3.0
    threads: int = 0  # 0: the runtime's default (the program's, for onnxruntime)


def _time(fn, warmup: int, seconds: float) -> float:
    """Mean ms per call of ``fn`` over at least ``seconds`` (and at least 3 calls)."""
    for _ in range(warmup):
        fn()
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < seconds:
        fn()
        n += 1
    return (time.perf_counter() - start) / n * 1000


def graph_bundle(name: str, model: LatentPoseModel, graph: bytes, output_resolution: int,
                 fp16: bool) -> Bundle:
    """An in-memory bundle of ``graph`` (with its fp16 conversion if ``fp16``), for the engine
    (never written)."""
    c = model.cfg
    manifest = Manifest(name=name, base_preset=name, driver_resolution=c.resolution,
                        output_resolution=output_resolution, driving_mode=c.driving_mode,
                        pose_dim=c.pose_dim, num_source_images=0, created="")
    return Bundle(path=Path(f"{name} (random weights)"), manifest=manifest, graph=graph, thumbnail=b"",
                  graph_fp16=to_fp16(graph) if fp16 else None)


def bench_preset(name: str, cfg: BenchConfig) -> list[dict]:
    model = create_model(name).eval()
    side, refs = model.cfg.resolution, {}
    if model.warp is not None:  # a character's worth of references at the usual output side
        side = OUTPUT_RESOLUTION
        refs = {"references": torch.randint(0, 256, (MAX_REFERENCES, 4, side, side), dtype=torch.uint8),
                "reference_params": torch.from_numpy(np.stack([P.neutral()] * MAX_REFERENCES)),
                "reference_drivers": torch.rand(MAX_REFERENCES, 3, model.cfg.resolution, model.cfg.resolution)}
    graph = character_graph(model, torch.randn(1, model.cfg.identity_dim), **refs)
    res = model.cfg.resolution
    x = torch.rand(cfg.batch, 3, res, res)
    rows = []

    def add(runtime: str, device: str, ms: float, batch: int = cfg.batch) -> None:
        rows.append({"preset": name, "runtime": runtime, "device": device, "batch": batch,
                     "ms_per_frame": round(ms / batch, 3)})

    cuda = torch.cuda.is_available()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with torch.inference_mode():
        add("torch-fp32", "cpu", _time(lambda: graph(x), cfg.warmup, cfg.seconds))
        if cuda:
            g = graph.cuda().half().to(memory_format=torch.channels_last)
            xc = x.cuda().half().to(memory_format=torch.channels_last)

            def run_cuda():
                g(xc)
                torch.cuda.synchronize()
            add("torch-fp16", "cuda", _time(run_cuda, cfg.warmup, cfg.seconds))
            graph = graph.float().cpu()
    # The fp16 conversion (slow) only where it runs: on CUDA, and as in a character, for synthesis
    # heads alone (see to_fp16).
    bundle = graph_bundle(name, model, export_onnx(graph, res), side, fp16=cuda and model.warp is None)
    xn = x.numpy()
    threads = cfg.threads or None
    cpu = Engine.load(bundle, EngineConfig(device="cpu", intra_op_threads=threads, warmup_runs=0))
    add("onnxruntime-fp32", "cpu", _time(lambda: cpu.run(xn), cfg.warmup, cfg.seconds))
    if cuda:
        precisions = [("fp32", False)]
        if bundle.graph_fp16 is not None:  # without one, EngineConfig(fp16=True) runs the float32 graph
            precisions.append(("fp16", True))
        for label, fp16 in precisions:
            gpu = Engine.load(bundle, EngineConfig(device="cuda", intra_op_threads=threads, fp16=fp16,
                                                   warmup_runs=0))
            if gpu.provider == "CUDA":
                add(f"onnxruntime-{label}", "cuda", _time(lambda e=gpu: e.run(xn[:1]), cfg.warmup, cfg.seconds),
                    batch=1)
            gpu.close()
    return rows


def run_bench(cfg: BenchConfig) -> list[dict]:
    return [row for name in cfg.presets for row in bench_preset(name, cfg)]
