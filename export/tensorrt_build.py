"""Optional: a TensorRT engine for a character graph, built ahead of time.

The live program can also let onnxruntime's TensorRT provider build (and cache) the engine on
first use; building here moves that minute-long step out of the first start and lets one check
that the graph converts. TensorRT is not a dependency: it is imported only here, and its absence
is reported as a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from puppet.bundle import INPUT, read_bundle
from puppet.files import atomic_write


class TensorRTUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class EngineConfig:
    fp16: bool = True
    max_batch: int = 1
    workspace_mb: int = 2048


def build_engine(bundle_path: Path, out_path: Path, cfg: EngineConfig = EngineConfig()) -> Path:
    """Serialise a TensorRT engine for the bundle's fp32 graph (batch 1..max_batch) to ``out_path``."""
    try:
        import tensorrt as trt
    except ImportError:
        raise TensorRTUnavailable(
            "TensorRT is not installed: install NVIDIA's `tensorrt` Python package on a machine with "
            "an NVIDIA GPU, or let the live program use the CUDA provider") from None
    bundle = read_bundle(bundle_path)
    res = bundle.manifest.driver_resolution
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(bundle.graph):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"{bundle_path}: TensorRT cannot parse character.onnx ({errors})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, cfg.workspace_mb << 20)
    if cfg.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    shape = (3, res, res)
    profile.set_shape(INPUT, (1, *shape), (1, *shape), (cfg.max_batch, *shape))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError(f"{bundle_path}: TensorRT could not build an engine (see its log above)")
    atomic_write(Path(out_path), lambda tmp: tmp.write_bytes(bytes(plan)))
    return Path(out_path)
