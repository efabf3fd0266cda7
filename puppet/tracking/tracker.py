"""The face tracker: webcam frames in, a smoothed face box and expression parameters out.

MediaPipe runs in tracking mode (it re-detects only when the face is lost). The neutral face is
automatic from the start: robust statistics of the last seconds of tracked frames (eyes are open
most of the time, the mouth mostly closed; each held within what a rest face measures), so a
start with eyes shut or a laugh does not skew it. :meth:`calibrate` instead takes
the next second as the neutral face and keeps it. Without a face the last parameters ease back
to rest over about a second and the box stays where it was.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from puppet import params as P

from .crop import Box, as_rgb
from .expression import ExpressionConfig, Measures, Neutral, measure, to_params
from .filters import OneEuro, OneEuroConfig
from .landmarks import FaceMesh

log = logging.getLogger(__name__)

_FAST = {"eye_open_l", "eye_open_r", "mouth_open", "gaze_x", "gaze_y"}


@dataclass(frozen=True)
class TrackerConfig:
    # One: MediaPipe then runs its face detector only when it loses the face it follows, and the
    # face it follows stays the same person. With two it runs the detector on every frame that
    # shows fewer (on the demo clip, 2-core CPU: 9.5-10.0 against 6.2-6.9 ms a frame).
    max_faces: int = 1
    calibration_s: float = 1.0  # length of an on-demand calibration
    min_calibration_frames: int = 5
    history_frames: int = 240  # the automatic neutral's window
    # The automatic neutral's eye aspect ratio (lid gap over eye width) is held within this band,
    # about TYPICAL's 0.27: seconds of shut or wide eyes are then read as such, not as the user's
    # rest. The demo clip opens on seven seconds of crying (0.01-0.12, her eyes shut or downcast),
    # which the upper quartile alone took as open eyes; later, two seconds of wide eyes (0.44) made
    # her relaxed eyes (0.26-0.33) read as half shut.
    rest_ear: tuple[float, float] = (0.16, 0.32)
    # and its mouth opening (lip gap over the eyes' distance) at most this: lips meet at rest, so
    # seconds of laughing are read as an open mouth. Started 13 s into the demo clip, where she
    # laughs (0.20-0.33), the laugh was taken as her rest and read as a closed mouth throughout.
    rest_mouth_open: float = 0.05
    lost_ease_s: float = 1.0
    box_filter: OneEuroConfig = OneEuroConfig(min_cutoff=0.4, beta=0.02)
    param_filter: OneEuroConfig = OneEuroConfig(min_cutoff=1.5, beta=0.5)
    smoothing: float = 1.0  # > 1 steadier, < 1 livelier (divides the filters' cutoffs)
    expression: ExpressionConfig = field(default_factory=ExpressionConfig)


@dataclass(frozen=True)
class TrackResult:
    found: bool
    confidence: float
    box: Box | None
    landmarks: np.ndarray | None  # float32 [478, 2] pixels
    params: np.ndarray  # float32 [NUM_PARAMS]
    calibrated: bool


class FaceTracker:
    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self.config = config
        self._mesh = FaceMesh(static=False, max_faces=config.max_faces)
        self._lock = threading.Lock()
        self._make_filters()
        self._neutral: Neutral | None = None
        self._history: deque[Measures] = deque(maxlen=config.history_frames)
        self._calibration: list[Measures] = []
        self._calibration_start: float | None = None
        self._calibrating = False  # an on-demand calibration in progress
        self._fixed = False  # the neutral came from calibrate() and is kept
        self._last_params = P.neutral()
        self._last_seen: float | None = None
        self._box: Box | None = None

    # -- settings (may be called from another thread, e.g. GUI sliders) --------------------
    def _make_filters(self) -> None:
        cfg = self.config
        cut = np.array([cfg.param_filter.min_cutoff * (3.0 if n in _FAST else 1.0) for n in P.PARAM_NAMES])
        self._param_filter = OneEuro(cfg.param_filter, min_cutoff=cut / cfg.smoothing)
        self._box_filter = OneEuro(cfg.box_filter, min_cutoff=cfg.box_filter.min_cutoff / cfg.smoothing)

    def update_config(self, **changes) -> None:
        """E.g. ``update_config(smoothing=2.0)`` or ``expression=ExpressionConfig(gain={...})``."""
        with self._lock:
            self.config = replace(self.config, **changes)
            self._make_filters()

    def calibrate(self) -> None:
        """Take the next ``calibration_s`` seconds of tracked frames as the neutral face."""
        with self._lock:
            self._calibrating, self._calibration, self._calibration_start = True, [], None

    @property
    def calibrated(self) -> bool:
        return self._neutral is not None

    # -- per frame -----------------------------------------------------------------------------
    def process(self, frame: np.ndarray, timestamp_s: float) -> TrackResult:
        rgb = as_rgb(frame)
        h, w = rgb.shape[:2]
        faces = self._mesh(rgb) if min(h, w) >= 32 else []
        with self._lock:
            if not faces:
                return self._lost(timestamp_s)
            pts = self._pick(faces)
            m = measure(pts)
            self._calibrate_with(m, timestamp_s, (w, h))
            raw = to_params(m, self._neutral, self.config.expression, (w, h)) if self._neutral else P.neutral()
            params = P.clip(self._param_filter(raw, timestamp_s)).astype(np.float32)
            x0, y0 = pts[:, :2].min(0)
            x1, y1 = pts[:, :2].max(0)
            box = self._box_filter(np.array([(x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)]), timestamp_s)
            self._box = (float(box[0]), float(box[1]), float(box[2]))
            self._last_params, self._last_seen = params, timestamp_s
            return TrackResult(True, 1.0, self._box, pts[:, :2].astype(np.float32), params, self.calibrated)

    def _pick(self, faces: list[np.ndarray]) -> np.ndarray:
        """Keep following the same person: the face nearest the last box."""
        if self._box is None or len(faces) == 1:
            return max(faces, key=lambda f: np.ptp(f[:, 0]))
        cx, cy, _ = self._box
        return min(faces, key=lambda f: np.hypot(*(f[:, :2].mean(0) - (cx, cy))))

    def _calibrate_with(self, m: Measures, t: float, size: tuple[int, int]) -> None:
        if self._calibrating:
            if self._calibration_start is None:
                self._calibration_start = t
            self._calibration.append(m)
            enough = len(self._calibration) >= self.config.min_calibration_frames
            if enough and t - self._calibration_start >= self.config.calibration_s:
                self._neutral = Neutral(_median(self._calibration), size)
                self._calibrating, self._fixed = False, True
                self._param_filter.reset()
                log.info("neutral face calibrated from %d frames", len(self._calibration))
        elif not self._fixed:
            self._history.append(m)
            if len(self._history) >= self.config.min_calibration_frames:
                self._neutral = Neutral(_automatic(list(self._history), self.config), size)

    def _lost(self, t: float) -> TrackResult:
        if self._last_seen is None:
            params = P.neutral()
        else:
            k = max(0.0, 1.0 - (t - self._last_seen) / self.config.lost_ease_s)
            params = (P.REST + (self._last_params - P.REST) * k).astype(np.float32)
        self._param_filter.reset()
        return TrackResult(False, 0.0, self._box, None, params, self.calibrated)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _automatic(ms: list[Measures], config: TrackerConfig) -> Measures:
    """A neutral face from recent frames: open eyes (upper quartile of eye openness), a closed
    mouth (lower decile of its opening), each held within what a rest face measures
    (``config.rest_ear``, ``config.rest_mouth_open``); medians for everything else."""
    med = _median(ms)
    ear = np.clip(np.percentile(np.stack([m.ear for m in ms]), 75, axis=0), *config.rest_ear)
    mouth = med.mouth.copy()
    mouth[0] = min(np.percentile([m.mouth[0] for m in ms], 10), config.rest_mouth_open)
    return replace(med, ear=ear, mouth=mouth)


def _median(ms: list[Measures]) -> Measures:
    stack = lambda name: np.stack([getattr(m, name) for m in ms])  # noqa: E731
    return Measures(centre=np.median(stack("centre"), 0), iod=float(np.median([m.iod for m in ms])),
                    roll=float(np.median([m.roll for m in ms])), ear=np.median(stack("ear"), 0),
                    gaze=np.median(stack("gaze"), 0), brow=np.median(stack("brow"), 0),
                    mouth=np.median(stack("mouth"), 0), rigid=np.median(stack("rigid"), 0))
