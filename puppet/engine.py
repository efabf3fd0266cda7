"""The character engine: a bundle's ``character.onnx`` run by onnxruntime, numpy in, numpy out.

Providers are tried in the order TensorRT, CUDA, CPU, and the engine reports the one that
ACTUALLY runs the graph (``session.get_providers()[0]``), because onnxruntime-gpu lists the GPU
providers even on a machine without a GPU and quietly falls back to the CPU when they fail to load:

- **TensorRT** (optional): used only when the TensorRT libraries are importable (the ``tensorrt``
  package); fp16, with its engine and timing caches in the user's cache directory
  (``platformdirs.user_cache_dir("puppet")/tensorrt/<graph sha256>``). onnxruntime names cached
  engines after the GPU's compute capability, so an engine is built once per graph and GPU kind
  (the first start takes a minute; later ones load the cache). TensorRT cannot be installed
  from the package registries alone; without it this step is skipped without a word beyond a
  debug log line.
- **CUDA**: IOBinding with input and outputs bound to device buffers, and CUDA graph capture
  (the graph is replayed for every frame: fewer kernel launches); when capture fails (an
  operator that must run on the CPU), the session is rebuilt without it. Uses the bundle's fp16
  graph when it has one and ``EngineConfig.fp16`` is set.
- **CPU**: the float32 graph on ``EngineConfig.threads()`` threads.

A missing or unusable GPU is never an exception: the engine runs on the CPU and says why in
``Engine.notice``, on every load. Whether and how to tell the user is the caller's decision (the
window says it once in its status bar, the command on stderr), so the engine does not log it.

Every onnxruntime session of the project, the export side's checks and benchmarks included,
comes from :func:`make_session`, so that what is measured is what the program runs.

Public API::

    EngineConfig(device="auto", intra_op_threads=None, fp16=True, cuda_graph=True, warmup_runs=2)
    make_session(model, providers, intra_op_threads) -> onnxruntime.InferenceSession
    Engine.load(bundle_or_path, config=EngineConfig()) -> Engine
    engine.run(driver float32 [N,3,R,R] RGB in [0,1], previous_choice=None)
        -> EngineOutput(rgb [N,3,S,S], mask [N,1,S,S], pose [N,P], choice [N,4,D] or None)
    (R the bundle's driver resolution, S its output resolution, D a warp character's drawings;
    feeding a frame's ``choice`` to the next run holds each region's drawing: see bundle.CHOICE)
    engine.provider -> "TensorRT" | "CUDA" | "CPU";  engine.notice -> str | None
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from puppet.bundle import CHOICE, GRAPH, INPUT, OUTPUTS, PREVIOUS_CHOICE, Bundle, Manifest, read_bundle

log = logging.getLogger(__name__)

PROVIDER_NAMES = {
    "TensorrtExecutionProvider": "TensorRT",
    "CUDAExecutionProvider": "CUDA",
    "CPUExecutionProvider": "CPU",
}
DEVICES = ("auto", "tensorrt", "cuda", "cpu")
# onnxruntime's default logger severity (warning); restored after the quiet provider probes.
_ORT_DEFAULT_SEVERITY = 2


class EngineError(RuntimeError):
    """A graph that onnxruntime cannot load or run; the message names the bundle."""


@dataclass(frozen=True)
class EngineConfig:
    """How to run a character graph.

    ``device``: "auto" tries TensorRT, CUDA, CPU in that order; a named device tries that one
    and then the CPU. ``intra_op_threads``: None picks one per core, capped at 4. On a 2-core
    machine with the toon character the whole pipeline (tracking on its own thread) ran faster
    with 2 inference threads than with 1 (46 against 32 frames/s offline, 18 against 10-15 live
    under load): inference is the longest stage, and the other threads leave the cores idle
    often enough to share them. ``fp16``: TensorRT
    builds fp16 engines, CUDA runs the bundle's fp16 graph; the CPU always runs float32.
    """

    device: str = "auto"
    intra_op_threads: int | None = None
    fp16: bool = True
    cuda_graph: bool = True
    warmup_runs: int = 2
    trt_cache_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device {self.device!r} is not one of {DEVICES}")

    def threads(self) -> int:
        if self.intra_op_threads is not None:
            return max(1, self.intra_op_threads)
        return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class EngineOutput:
    rgb: np.ndarray  # float32 [N,3,S,S] (S: output resolution), before masking; may stray outside [0,1]
    mask: np.ndarray  # float32 [N,1,S,S] in [0,1]
    pose: np.ndarray  # float32 [N,P], the pose embedding of the driver
    choice: np.ndarray | None = None  # float32 [N,4,D]: a warp character's choice of drawings


ProviderSpec = tuple[str, dict[str, str]]


def make_session(model: bytes | str | os.PathLike, providers: Sequence[ProviderSpec],
                 intra_op_threads: int) -> ort.InferenceSession:
    """The one place onnxruntime sessions are made: explicit threads, optimisation, providers.

    ``providers`` is an ordered list of (provider name, options); the CPU provider is always
    appended last so a failed GPU provider degrades to the CPU instead of raising.
    """
    so = ort.SessionOptions()
    so.intra_op_num_threads = intra_op_threads
    so.inter_op_num_threads = 1  # the graph is one chain; parallel branches gain nothing
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads would steal the core the tracker runs on.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    chain = [(name, dict(opts)) for name, opts in providers if name != "CPUExecutionProvider"]
    chain.append(("CPUExecutionProvider", {}))
    if isinstance(model, (str, os.PathLike)):
        model = str(model)
    return ort.InferenceSession(model, sess_options=so, providers=[n for n, _ in chain],
                                provider_options=[o for _, o in chain])


def _tensorrt_available() -> bool:
    # onnxruntime's TensorRT provider needs the TensorRT libraries; without them it prints an
    # error block to stdout on every attempt, so look for them before asking for it.
    return importlib.util.find_spec("tensorrt") is not None


def _trt_options(config: EngineConfig, bundle: Bundle) -> dict[str, str]:
    if config.trt_cache_dir is not None:
        root = Path(config.trt_cache_dir)
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("puppet", appauthor=False)) / "tensorrt"
    cache = root / bundle.manifest.members.get(GRAPH, "unknown")[:16]
    cache.mkdir(parents=True, exist_ok=True)
    r = bundle.manifest.driver_resolution
    shape = f"{INPUT}:1x3x{r}x{r}"  # the live path runs batch 1; one optimisation profile
    return {
        "trt_fp16_enable": "1" if config.fp16 else "0",
        "trt_engine_cache_enable": "1",
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": "1",
        "trt_timing_cache_path": str(cache),
        "trt_profile_min_shapes": shape,
        "trt_profile_opt_shapes": shape,
        "trt_profile_max_shapes": shape,
    }


class _BoundRunner:
    """IOBinding over fixed device buffers for batch 1 (what CUDA graph replay needs). ``device``
    is onnxruntime's name of where the buffers live: "cuda" in use; "cpu" runs the same binding
    where there is no GPU."""

    def __init__(self, session: ort.InferenceSession, manifest: Manifest, device: str = "cuda"):
        self.session = session
        r, s = manifest.driver_resolution, manifest.output_resolution

        def buffer(shape: list[int]) -> ort.OrtValue:
            return ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, device, 0)

        self.input = buffer([1, 3, r, r])
        shapes = {"rgb": [1, 3, s, s], "mask": [1, 1, s, s], "pose": [1, manifest.pose_dim]}
        self.previous: ort.OrtValue | None = None
        held = held_shape(session)
        if held:
            shapes[CHOICE] = list(held)
            self.previous = buffer(list(held))
        self.outputs = {name: buffer(shape) for name, shape in shapes.items()}
        self.binding = session.io_binding()
        self.binding.bind_ortvalue_input(INPUT, self.input)
        if self.previous is not None:
            self.binding.bind_ortvalue_input(PREVIOUS_CHOICE, self.previous)
        for name, value in self.outputs.items():
            self.binding.bind_ortvalue_output(name, value)

    def run(self, driver: np.ndarray, previous_choice: np.ndarray | None) -> list[np.ndarray]:
        self.input.update_inplace(np.ascontiguousarray(driver))
        if self.previous is not None:  # zeros: nothing held
            held = np.zeros(self.previous.shape(), np.float32) if previous_choice is None else previous_choice
            self.previous.update_inplace(np.ascontiguousarray(held, dtype=np.float32))
        self.session.run_with_iobinding(self.binding)
        return [value.numpy() for value in self.outputs.values()]


def held_shape(session: ort.InferenceSession) -> tuple[int, ...]:
    """The shape of a warp character's previous-choice input ([1, regions, drawings]: see
    bundle.PREVIOUS_CHOICE); empty for graphs that choose no drawings."""
    for i in session.get_inputs():
        if i.name == PREVIOUS_CHOICE:
            return tuple(int(d) for d in i.shape)
    return ()


class Engine:
    """One character graph in one onnxruntime session. ``run`` is safe to call from one thread
    at a time (the pipeline's inference thread); ``close`` releases the session.

    ``provider`` is the one that runs the graph; ``notice`` says why that is the CPU when a GPU
    was asked for (``"running on the CPU: <reasons>"``), else None.
    """

    def __init__(self, bundle: Bundle, session: ort.InferenceSession, config: EngineConfig,
                 notice: str | None, bound: _BoundRunner | None):
        self.bundle = bundle
        self.manifest = bundle.manifest
        self.config = config
        self.notice = notice
        self._session = session
        self._bound = bound
        self._lock = threading.Lock()
        self.provider = PROVIDER_NAMES.get(session.get_providers()[0], session.get_providers()[0])
        self._held_shape = held_shape(session)  # non-empty: run() takes and gives a choice of drawings
        self._outputs = list(OUTPUTS) + ([CHOICE] if self._held_shape else [])

    @property
    def drawings(self) -> int:
        """How many drawings a warp character chooses among; 0 for graphs that do not choose."""
        return self._held_shape[-1] if self._held_shape else 0

    @property
    def driver_resolution(self) -> int:
        """Side of the driver image the graph takes."""
        return self.manifest.driver_resolution

    @property
    def output_resolution(self) -> int:
        """Side of the picture (rgb, mask) it draws."""
        return self.manifest.output_resolution

    @property
    def name(self) -> str:
        return self.manifest.name

    @classmethod
    def load(cls, source: Bundle | str | os.PathLike, config: EngineConfig | None = None) -> Engine:
        """Read (and validate) a bundle, open a session on the best provider that loads, warm up.

        Raises BundleError for a bad bundle and EngineError for a graph onnxruntime rejects.
        """
        config = config or EngineConfig()
        bundle = source if isinstance(source, Bundle) else read_bundle(source)
        session, notice, bound = _open(bundle, config)
        engine = cls(bundle, session, config, notice, bound)
        engine.warmup()
        return engine

    def warmup(self) -> None:
        r = self.driver_resolution
        driver = np.full((1, 3, r, r), 0.5, dtype=np.float32)
        for _ in range(self.config.warmup_runs):
            self.run(driver)

    def run(self, driver: np.ndarray, previous_choice: np.ndarray | None = None) -> EngineOutput:
        """driver: float32 [N,3,R,R] RGB in [0,1] -> EngineOutput (rgb, mask, pose, choice).
        ``previous_choice``: the ``choice`` of the frame before (batch 1), to hold its drawings;
        ignored by graphs that do not choose."""
        r = self.driver_resolution
        if driver.ndim != 4 or driver.shape[1:] != (3, r, r):
            raise ValueError(f"{self.bundle.path}: driver must be [N,3,{r},{r}], got {list(driver.shape)}")
        driver = np.ascontiguousarray(driver, dtype=np.float32)
        feed = {INPUT: driver}
        if self._held_shape:
            held = np.zeros(self._held_shape, np.float32) if previous_choice is None else previous_choice
            if held.shape != self._held_shape:
                raise ValueError(f"{self.bundle.path}: previous_choice must be {list(self._held_shape)}, "
                                 f"got {list(held.shape)}")
            feed[PREVIOUS_CHOICE] = np.ascontiguousarray(held, dtype=np.float32)
        with self._lock:
            if self._session is None:
                raise EngineError(f"{self.bundle.path}: engine is closed")
            if self._bound is not None:
                if driver.shape[0] != 1:
                    raise ValueError(f"{self.bundle.path}: the CUDA-graph engine runs batch 1 only")
                rgb, mask, pose, *choice = self._bound.run(driver, feed.get(PREVIOUS_CHOICE))
            else:
                rgb, mask, pose, *choice = self._session.run(self._outputs, feed)
        return EngineOutput(rgb=rgb, mask=mask, pose=pose, choice=choice[0] if choice else None)

    def close(self) -> None:
        with self._lock:
            self._session = None
            self._bound = None


def _open(bundle: Bundle, config: EngineConfig) -> tuple[ort.InferenceSession, str | None, _BoundRunner | None]:
    """Try the providers the config allows, best first; return the session that really runs."""
    available = set(ort.get_available_providers())
    wanted = ["tensorrt", "cuda"] if config.device == "auto" else [config.device]
    threads = config.threads()
    reasons: list[str] = []
    for device in wanted:
        if device == "cpu":
            break
        if device == "tensorrt":
            if "TensorrtExecutionProvider" not in available or not _tensorrt_available():
                log.debug("TensorRT libraries not installed; skipping the TensorRT provider")
                if config.device == "tensorrt":
                    reasons.append("TensorRT libraries are not installed")
                continue
            trt = _try_gpu(bundle.graph, "TensorrtExecutionProvider", _trt_options(config, bundle), threads)
            attempt = trt if isinstance(trt, str) else (trt, None)
        else:
            if "CUDAExecutionProvider" not in available:
                reasons.append("this onnxruntime build has no CUDA provider")
                continue
            attempt = _open_cuda(bundle, config, threads)
        if isinstance(attempt, str):
            reasons.append(attempt)
            continue
        return attempt[0], None, attempt[1]
    session = _create_cpu(bundle, threads)
    notice = ("running on the CPU: " + "; ".join(reasons)) if reasons else None
    return session, notice, None


def _create_cpu(bundle: Bundle, threads: int) -> ort.InferenceSession:
    try:
        return make_session(bundle.graph, [], threads)
    except Exception as e:  # onnxruntime raises several unrelated types for a bad graph
        raise EngineError(f"{bundle.path}: onnxruntime cannot load the character graph ({e})") from None


def _try_gpu(graph: bytes, provider: str, options: dict[str, str], threads: int) -> ort.InferenceSession | str:
    """A session that really runs on ``provider``, or the reason there is none."""
    # A provider whose libraries are missing logs a screenful of errors; the notice says it in one line.
    ort.set_default_logger_severity(4)
    try:
        session = make_session(graph, [(provider, options)], threads)
    except Exception as e:  # a provider that loads but cannot start (no such device, no memory);
        # a graph that is bad in itself fails again on the CPU, which reports it
        return f"{PROVIDER_NAMES[provider]} provider failed to start ({str(e).strip()[:200]})"
    finally:
        ort.set_default_logger_severity(_ORT_DEFAULT_SEVERITY)
    if session.get_providers()[0] != provider:
        return f"{PROVIDER_NAMES[provider]} provider did not load (no usable GPU or its libraries are missing)"
    return session


def _open_cuda(bundle: Bundle, config: EngineConfig, threads: int) -> tuple[ort.InferenceSession, _BoundRunner | None] | str:
    graph = bundle.graph_fp16 if (config.fp16 and bundle.graph_fp16 is not None) else bundle.graph
    m = bundle.manifest
    if config.cuda_graph:
        session = _try_gpu(graph, "CUDAExecutionProvider", {"enable_cuda_graph": "1"}, threads)
        if isinstance(session, str):
            return session
        try:
            bound = _BoundRunner(session, m)
            # the first run captures the graph
            bound.run(np.zeros((1, 3, m.driver_resolution, m.driver_resolution), np.float32), None)
            return session, bound
        except Exception as e:  # capture refuses graphs with CPU-only nodes; run without it
            log.info("%s: CUDA graph capture unavailable (%s); running CUDA without it", bundle.path, e)
    session = _try_gpu(graph, "CUDAExecutionProvider", {}, threads)
    if isinstance(session, str):
        return session
    try:
        return session, _BoundRunner(session, m)
    except Exception as e:  # no device buffers: fall back to plain run, still on CUDA
        log.info("%s: IOBinding unavailable (%s)", bundle.path, e)
        return session, None


__all__ = ["Engine", "EngineConfig", "EngineError", "EngineOutput", "make_session"]
