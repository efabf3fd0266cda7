"""The pipeline: capture -> track + prepare -> infer + compose -> present / record, on threads.

Three worker threads joined by one-slot hand-offs (:mod:`puppet.pipeline.handoff`):

    capture thread   source.read(), mirror
    track thread     tracker (or slider parameters), driver preparation
    output thread    engine.run (given its last choice of drawings), compositing, on_frame callback,
                     recorder.submit

Inference and tracking are the two heavy stages and they sit on different threads, so both
cores of a small machine work at once (onnxruntime and mediapipe release the GIL). In LIVE mode
the hand-offs keep only the newest frame; in OFFLINE mode they wait, and every frame of a file
is processed in order. Only the track thread touches the tracker and only the output thread
touches the engine and compositor; settings changed from other threads are picked up at the
next frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from puppet.bundle import Bundle
from puppet.capture import CaptureError, Frame, FrameSource, IdleSource
from puppet.compose import Background, ComposeConfig, Compositor
from puppet.engine import Engine, EngineConfig
from puppet.params import NUM_PARAMS, clip
from puppet.pipeline.handoff import Handoff
from puppet.pipeline.prepare import DriverPreparer, to_tensor
from puppet.pipeline.stats import RunStats, RunSummary, StageTimes
from puppet.recording import Recorder, RecordingConfig, RecordingError, RecordingResult
from puppet.tracking import FaceTracker, TrackerConfig, TrackResult

log = logging.getLogger(__name__)


class Mode(str, Enum):
    LIVE = "live"  # drop stale frames, latency first (camera, GUI)
    OFFLINE = "offline"  # every frame in order (puppet render)


class PipelineError(RuntimeError):
    """A setting the pipeline cannot honour (e.g. slider driving of a face-mode character)."""


class Tracker(Protocol):
    """What the pipeline needs of a tracker (puppet.tracking.FaceTracker)."""

    def process(self, frame_rgb: np.ndarray, timestamp_s: float) -> TrackResult: ...

    def calibrate(self) -> None: ...

    def update_config(self, **changes: Any) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class PipelineConfig:
    mode: Mode = Mode.LIVE
    mirror: bool = False
    compose: ComposeConfig = field(default_factory=ComposeConfig)
    max_frames: int | None = None  # stop after this many captured frames
    stats_window: int = 300  # frames the running means, fps and latency percentiles cover
    logged_errors: int = 3  # per stage: full tracebacks for the first few, then only counts


@dataclass(frozen=True)
class FrameResult:
    """One finished frame, as handed to ``on_frame`` (on the pipeline's output thread)."""

    index: int  # the source's frame index
    image: np.ndarray  # uint8 [S,S,3] (or [S,S,4] with a transparent background; wider side by side)
    camera: np.ndarray  # uint8 [H,W,3] RGB, mirrored if mirroring is on
    driver: np.ndarray  # uint8 [R,R,3] RGB: what the character graph saw
    track: TrackResult  # found, confidence, box, landmarks, params, calibrated
    times: StageTimes
    provider: str  # "TensorRT" | "CUDA" | "CPU"
    character: str


@dataclass
class _Work:
    frame: Frame
    track: TrackResult
    engine: Engine
    driver: np.ndarray  # uint8 [R,R,3]
    tensor: np.ndarray  # float32 [1,3,R,R]
    track_ms: float
    prepare_ms: float


def _default_tracker() -> Tracker:
    return FaceTracker(TrackerConfig())


class Pipeline:
    """Live or offline reenactment of one character from one source.

    Construct, optionally ``start_recording``, then ``start()``; ``stop()`` (or ``wait()`` for
    a file in OFFLINE mode) returns a :class:`RunSummary`. Callbacks run on the pipeline's
    output thread: keep them short (the GUI re-emits them as Qt signals).

    ``on_frame(FrameResult)``: every finished frame. ``on_error(str)``: a one-line message
    when the run ends early or a recording fails. ``on_finished(RunSummary)``: once, when the
    output thread ends (after the recording is finalised).
    """

    def __init__(self, engine: Engine, source: FrameSource | None = None,
                 config: PipelineConfig = PipelineConfig(),
                 tracker_factory: Callable[[], Tracker] = _default_tracker,
                 on_frame: Callable[[FrameResult], None] | None = None,
                 on_error: Callable[[str], None] | None = None,
                 on_finished: Callable[[RunSummary], None] | None = None):
        self.config = config
        self.source: FrameSource = source if source is not None else IdleSource()
        self.on_frame, self.on_error, self.on_finished = on_frame, on_error, on_finished
        self._engine = engine
        self._tracker_factory = tracker_factory
        self._tracker: Tracker | None = None
        self._compositor = Compositor(config.compose)
        self._mirror = config.mirror
        self._manual: np.ndarray | None = None
        self._calibrate = threading.Event()
        self._tracker_changes: dict[str, Any] = {}
        self._lock = threading.Lock()
        live = config.mode is Mode.LIVE
        self._to_track: Handoff[Frame] = Handoff(drop_stale=live)
        self._to_output: Handoff[_Work] = Handoff(drop_stale=live)
        self._stats = RunStats(config.stats_window)
        self._frames_in = 0
        self._stale_character = 0
        # The character's last choice of drawings, fed to its next frame (output thread only).
        self._held: tuple[Engine, np.ndarray] | None = None
        self._error: str | None = None
        self._recorder: Recorder | None = None
        self._last_recording: RecordingResult | None = None
        self._summary: RunSummary | None = None
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=fn, name=f"puppet {name}", daemon=True)
                         for name, fn in (("capture", self._capture_loop), ("track", self._track_loop),
                                          ("output", self._output_loop))]
        self._started = False

    # ---- control (any thread) -------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            raise PipelineError("pipeline already started (make a new one to run again)")
        self._started = True
        for t in self._threads:
            t.start()

    @property
    def running(self) -> bool:
        return self._started and any(t.is_alive() for t in self._threads)

    def stop(self, timeout: float = 10.0) -> RunSummary:
        """Stop at once (in-flight frames are discarded), finalise the recording, summarise."""
        self._stopping.set()
        self._to_track.close()
        self._to_output.close()
        if not self._started:
            self.source.close()
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> RunSummary:
        """Wait for the source to end (OFFLINE: every frame processed) and summarise."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            # A callback may stop the pipeline from the output thread itself: no self-join.
            if t.is_alive() and t is not threading.current_thread():
                t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if self._summary is None:  # never started, or a thread is stuck in a device read
            self.stop_recording()
            self._summary = self.stats()
        return self._summary

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def provider(self) -> str:
        return self._engine.provider

    @property
    def error(self) -> str | None:
        return self._error

    def set_character(self, character: Engine | Bundle | str | Path,
                      engine_config: EngineConfig | None = None) -> Engine:
        """Swap the character while running. Loading a bundle takes a moment on the calling
        thread (a GUI passes an Engine it loaded on a worker thread). Frames prepared for the
        old character are dropped."""
        engine = character if isinstance(character, Engine) else Engine.load(character, engine_config)
        if self._manual is not None and engine.manifest.driving_mode != "proxy":
            raise PipelineError(f"{engine.bundle.path}: slider driving needs a proxy-mode character")
        self._engine = engine
        return engine

    def set_compose(self, compose: ComposeConfig) -> None:
        self._compositor = Compositor(compose)

    def set_background(self, background: Background) -> None:
        self.set_compose(replace(self._compositor.config, background=background))

    def set_side_by_side(self, on: bool) -> None:
        self.set_compose(replace(self._compositor.config, side_by_side=on))

    def set_mirror(self, on: bool) -> None:
        self._mirror = on

    def calibrate(self) -> None:
        """Take the current face as the neutral pose (done by the track thread, next frame)."""
        self._calibrate.set()

    def set_tracker_options(self, **changes: Any) -> None:
        """Forward settings to the tracker, next frame: the fields of
        ``puppet.tracking.TrackerConfig``, e.g. ``smoothing=2.0`` or
        ``expression=ExpressionConfig(gain={"mouth_open": 1.5})``. An unknown name is reported
        through ``on_error`` and ignored."""
        with self._lock:
            self._tracker_changes.update(changes)

    def set_manual_params(self, params: np.ndarray | None) -> None:
        """Drive from an explicit parameter vector (float [NUM_PARAMS], see puppet.params)
        instead of the camera; None returns to tracking. Proxy-mode characters only."""
        if params is None:
            self._manual = None
            return
        params = np.asarray(params, np.float32).reshape(-1)  # [P] or [1,P] -> [P]
        if params.shape != (NUM_PARAMS,):
            raise PipelineError(f"parameter vector must have {NUM_PARAMS} values, got {params.shape[0]}")
        if self._engine.manifest.driving_mode != "proxy":
            raise PipelineError(f"{self._engine.bundle.path}: slider driving needs a proxy-mode character")
        self._manual = clip(params)

    def start_recording(self, path: str | Path, config: RecordingConfig | None = None) -> Recorder:
        """Record finished frames to .mp4 or .gif until ``stop_recording`` or the run ends.
        The default rate is the source's."""
        config = config or RecordingConfig(fps=self.source.fps)
        recorder = Recorder(path, config, live=self.config.mode is Mode.LIVE)
        previous, self._recorder = self._recorder, recorder
        if previous is not None:
            self._last_recording = previous.stop()
        return recorder

    def stop_recording(self) -> RecordingResult | None:
        """Finalise the current recording (None if there was none)."""
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            self._last_recording = recorder.stop()
            return self._last_recording
        return None

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def stats(self) -> RunSummary:
        """A snapshot of the running statistics (cheap; the GUI polls it)."""
        stage_ms, latency, p90, fps = self._stats.snapshot()
        return RunSummary(
            frames_in=self._frames_in, frames_out=self._stats.frames_out,
            dropped={"capture": self._to_track.dropped, "track": self._to_output.dropped,
                     "character_swap": self._stale_character},
            errors=self._stats.error_counts(), error=self._error, stage_ms=stage_ms,
            latency_ms=latency, latency_p90_ms=p90, fps=fps, provider=self.provider,
            recording=self._last_recording)

    # ---- worker threads ---------------------------------------------------------------

    def _fail(self, message: str) -> None:
        """End the run early with a one-line reason (the first reason wins)."""
        with self._lock:
            if self._error is not None:
                return
            self._error = message
        log.error("%s", message)
        self._stopping.set()
        self._to_track.close()
        self._notify_error(message)

    def _notify_error(self, message: str) -> None:
        if self.on_error is not None:
            try:
                self.on_error(message)
            except Exception:
                log.exception("on_error callback failed")

    def _count_error(self, stage: str, frame_index: int) -> None:
        n = self._stats.error(stage)
        if n <= self.config.logged_errors:
            log.exception("%s failed on frame %d (error %d in this stage)", stage, frame_index, n)

    def _capture_loop(self) -> None:
        try:
            while not self._stopping.is_set():
                if self.config.max_frames is not None and self._frames_in >= self.config.max_frames:
                    break
                frame = self.source.read()
                if frame is None:
                    break
                if self._mirror:
                    frame = replace(frame, image=np.ascontiguousarray(frame.image[:, ::-1]))  # flip W
                self._frames_in += 1
                if not self._to_track.put(frame):
                    break
        except CaptureError as e:
            self._fail(str(e))
        except Exception as e:  # a source must never take the process down
            log.exception("capture failed")
            self._fail(f"{self.source.name}: capture failed ({e})")
        finally:
            self._to_track.close()
            try:
                self.source.close()
            except Exception:
                log.exception("%s: close failed", self.source.name)

    def _apply_tracker_requests(self, tracker: Tracker) -> None:
        if self._calibrate.is_set():
            self._calibrate.clear()
            tracker.calibrate()
        with self._lock:
            changes, self._tracker_changes = self._tracker_changes, {}
        if changes:
            try:
                tracker.update_config(**changes)
            except (TypeError, ValueError) as e:
                self._notify_error(f"tracker settings {sorted(changes)} not applied ({e})")

    def _track_loop(self) -> None:
        preparer: DriverPreparer | None = None
        prepared_for: Engine | None = None
        try:
            while (frame := self._to_track.get()) is not None:
                try:
                    t0 = time.perf_counter()
                    manual = self._manual
                    if manual is not None:
                        track = _manual_track(manual)
                    else:
                        if self._tracker is None:
                            self._tracker = self._tracker_factory()
                        self._apply_tracker_requests(self._tracker)
                        track = self._tracker.process(frame.image, frame.pts_s)
                    t1 = time.perf_counter()
                    engine = self._engine
                    if preparer is None or prepared_for is not engine:
                        preparer, prepared_for = DriverPreparer(engine.manifest), engine
                    driver = preparer.image(frame.image, track.box, track.params)
                    tensor = to_tensor(driver)
                    t2 = time.perf_counter()
                except Exception:
                    self._count_error("track", frame.index)
                    continue
                work = _Work(frame, track, engine, driver, tensor, (t1 - t0) * 1000.0, (t2 - t1) * 1000.0)
                if not self._to_output.put(work):
                    break
        finally:
            self._to_output.close()
            if self._tracker is not None:
                try:
                    self._tracker.close()
                except Exception:
                    log.exception("tracker close failed")

    def _output_loop(self) -> None:
        try:
            while (work := self._to_output.get()) is not None:
                if work.engine is not self._engine:
                    self._stale_character += 1
                    continue
                result = self._render(work)
                if result is not None:
                    self._present(result, work.frame.t_capture)
        finally:
            self._finish()

    def _render(self, work: _Work) -> FrameResult | None:
        frame = work.frame
        try:
            t0 = time.perf_counter()
            held = self._held[1] if self._held is not None and self._held[0] is work.engine else None
            out = work.engine.run(work.tensor, held)
            t1 = time.perf_counter()
            self._held = (work.engine, out.choice) if out.choice is not None else None
        except Exception:
            self._count_error("infer", frame.index)
            return None
        try:
            image = self._compositor.compose(out.rgb[0], out.mask[0], frame.image)
            t2 = time.perf_counter()
        except Exception:
            self._count_error("compose", frame.index)
            return None
        times = StageTimes(capture=frame.capture_ms, track=work.track_ms, prepare=work.prepare_ms,
                           infer=(t1 - t0) * 1000.0, compose=(t2 - t1) * 1000.0,
                           latency=(t2 - frame.t_capture) * 1000.0)
        self._stats.add(times, t2)
        return FrameResult(frame.index, image, frame.image, work.driver, work.track, times,
                           work.engine.provider, work.engine.name)

    def _present(self, result: FrameResult, t_capture: float) -> None:
        if self.on_frame is not None:
            try:
                self.on_frame(result)
            except Exception:
                self._count_error("present", result.index)
        recorder = self._recorder
        if recorder is not None and not recorder.submit(result.image, t_capture) and recorder.error is not None:
            stopped = self.stop_recording()
            message = stopped.error if stopped is not None and stopped.error else str(recorder.error)
            if self.config.mode is Mode.OFFLINE:
                self._fail(message)  # a render without its output file has no point going on
            else:
                self._notify_error(message)

    def _finish(self) -> None:
        self._stopping.set()
        self._to_track.close()
        try:
            self.stop_recording()
        except RecordingError as e:
            self._notify_error(str(e))
        self._summary = self.stats()
        if self.on_finished is not None:
            try:
                self.on_finished(self._summary)
            except Exception:
                log.exception("on_finished callback failed")


def _manual_track(params: np.ndarray) -> TrackResult:
    return TrackResult(found=True, confidence=1.0, box=None, landmarks=None, params=params, calibrated=True)
