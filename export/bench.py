"""Speed of the character graph (pose encoder + generator) per preset, in PyTorch and onnxruntime.

Random weights: speed does not depend on them. Prints one line per (preset, runtime, device) and,
with ``--json``, one JSON object.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .models import create_model
from .onnx_export import character_graph, export_onnx, to_fp16


@dataclass(frozen=True)
class BenchConfig:
    presets: tuple[str, ...] = ("toon", "lpr256")
    batch: int = 1
    warmup: int = 3
    seconds: float = 3.0
    threads: int = 0  # 0: the runtime's default


def _time(fn, warmup: int, seconds: float) -> float:
    """Mean ms per call of ``fn`` over at least ``seconds`` (and at least 3 calls)."""
    for _ in range(warmup):
        fn()
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < seconds:
        fn()
        n += 1
    return (time.perf_counter() - start) / n * 1000


def bench_preset(name: str, cfg: BenchConfig) -> list[dict]:
    import onnxruntime as ort

    model = create_model(name).eval()
    graph = character_graph(model, torch.randn(1, model.cfg.identity_dim))
    res = model.cfg.resolution
    x = torch.rand(cfg.batch, 3, res, res)
    rows = []

    def add(runtime: str, device: str, ms: float) -> None:
        rows.append({"preset": name, "runtime": runtime, "device": device, "batch": cfg.batch,
                     "ms_per_frame": round(ms / cfg.batch, 3)})

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with torch.inference_mode():
        add("torch-fp32", "cpu", _time(lambda: graph(x), cfg.warmup, cfg.seconds))
        if torch.cuda.is_available():
            g = graph.cuda().half().to(memory_format=torch.channels_last)
            xc = x.cuda().half().to(memory_format=torch.channels_last)

            def run_cuda():
                g(xc)
                torch.cuda.synchronize()
            add("torch-fp16", "cuda", _time(run_cuda, cfg.warmup, cfg.seconds))
            graph = graph.float().cpu()
    onnx_bytes = export_onnx(graph, res)
    so = ort.SessionOptions()
    if cfg.threads:
        so.intra_op_num_threads = cfg.threads
    xn = x.numpy()
    sess = ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
    add("onnxruntime-fp32", "cpu", _time(lambda: sess.run(None, {"driver": xn}), cfg.warmup, cfg.seconds))
    if "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available():
        for label, blob in (("fp32", onnx_bytes), ("fp16", to_fp16(onnx_bytes))):
            opts = {"enable_cuda_graph": "1"}
            s = ort.InferenceSession(blob, so, providers=[("CUDAExecutionProvider", opts)])
            binding = s.io_binding()
            inp = ort.OrtValue.ortvalue_from_numpy(xn, "cuda", 0)
            outs = {o.name: ort.OrtValue.ortvalue_from_shape_and_type(
                [cfg.batch] + list(o.shape[1:]), np.float32, "cuda", 0) for o in s.get_outputs()}
            binding.bind_ortvalue_input("driver", inp)
            for o_name, val in outs.items():
                binding.bind_ortvalue_output(o_name, val)
            add(f"onnxruntime-{label}-cudagraph", "cuda",
                _time(lambda s=s, b=binding: s.run_with_iobinding(b), cfg.warmup, cfg.seconds))
    return rows


def run_bench(cfg: BenchConfig) -> list[dict]:
    return [row for name in cfg.presets for row in bench_preset(name, cfg)]
