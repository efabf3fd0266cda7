"""Expression and head-pose measures from face-mesh landmarks, and their mapping to params.

Raw measures are dimensionless (distances over the inter-ocular distance, taken in a frame
de-rotated by the head's roll); a neutral calibration removes the user's own rest shape; gains,
dead zones and ranges then give the :mod:`puppet.params` vector. Head rotation is a rigid fit
(Kabsch) of the skull's landmarks against the same landmarks at neutral: the user's own face is
the 3-D face model, so no generic model has to fit them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from puppet import params as P

from . import landmarks as LM


@dataclass(frozen=True)
class ExpressionConfig:
    """Per-parameter gain and dead zone (in parameter units), applied after calibration."""

    gain: dict[str, float] = field(default_factory=dict)
    dead_zone: dict[str, float] = field(default_factory=lambda: {
        "yaw": 1.5, "pitch": 1.5, "roll": 1.0, "gaze_x": 0.08, "gaze_y": 0.1, "brow_l": 0.08,
        "brow_r": 0.08, "smile": 0.08, "mouth_width": 0.08, "mouth_open": 0.04})
    eye_closed_ratio: float = 0.45  # eye aspect ratio, relative to neutral, that reads as shut


# Sensitivities: raw measure change that makes one parameter unit.
_PER_UNIT = {"gaze_x": 0.12, "gaze_y": 0.12, "brow": 0.06, "mouth_open": 0.35, "smile": 0.08, "mouth_width": 0.25}


@dataclass(frozen=True)
class Measures:
    """Raw, calibration-free measures of one face."""

    centre: np.ndarray  # [2] pixels
    iod: float  # inter-ocular distance, pixels
    roll: float  # degrees, eye line against the horizontal
    ear: np.ndarray  # [2] eye aspect ratios (l, r)
    gaze: np.ndarray  # [2]
    brow: np.ndarray  # [2] brow height over iod (l, r)
    mouth: np.ndarray  # [3] open, smile, width (over iod)
    rigid: np.ndarray  # [n,3] skull points, centred, in units of iod


def _eye_centre(pts, eye):
    return (pts[eye["outer"], :2] + pts[eye["inner"], :2]) / 2


def measure(pts: np.ndarray) -> Measures:
    """[478,3] landmarks in pixels -> Measures."""
    el, er = _eye_centre(pts, LM.EYE_L), _eye_centre(pts, LM.EYE_R)
    axis = er - el
    iod = float(np.linalg.norm(axis)) + 1e-6
    roll = float(np.degrees(np.arctan2(axis[1], axis[0])))
    c, s = axis / iod
    centre = pts[:, :2].mean(0)
    rot = np.array([[c, s], [-s, c]])  # de-roll: the eye line becomes horizontal
    q = (pts[:, :2] - centre) @ rot.T / iod  # [478,2] upright, iod units

    def ear(eye):
        width = np.linalg.norm(q[eye["outer"]] - q[eye["inner"]]) + 1e-6
        gaps = [np.linalg.norm(q[t] - q[b]) for t, b in zip(eye["top"], eye["bottom"])]
        return float(np.mean(gaps) / width)

    def gaze(eye):
        left, right = sorted((q[eye["outer"]], q[eye["inner"]]), key=lambda v: v[0])
        mid = (q[eye["top"][0]] + q[eye["bottom"][0]]) / 2
        iris = min((q[i] for i in LM.IRIS_CENTRES), key=lambda v: np.linalg.norm(v - mid))
        u = (iris[0] - left[0]) / (right[0] - left[0] + 1e-6) - 0.5
        return np.array([u, iris[1] - mid[1]])

    def brow(idx, eye):
        return float(np.mean(q[list(eye["top"]), 1]) - np.mean(q[list(idx), 1]))

    corners = (q[LM.MOUTH_L] + q[LM.MOUTH_R]) / 2
    lips = (q[LM.LIP_TOP] + q[LM.LIP_BOTTOM]) / 2
    mouth = np.array([np.linalg.norm(q[LM.LIP_TOP] - q[LM.LIP_BOTTOM]), lips[1] - corners[1],
                      np.linalg.norm(q[LM.MOUTH_L] - q[LM.MOUTH_R])])
    rigid = pts[list(LM.RIGID)] * np.array([1, 1, -1])  # z towards the viewer
    rigid = (rigid - rigid.mean(0)) / iod
    return Measures(centre, iod, roll, np.array([ear(LM.EYE_L), ear(LM.EYE_R)]),
                    (gaze(LM.EYE_L) + gaze(LM.EYE_R)) / 2,
                    np.array([brow(LM.BROW_L, LM.EYE_L), brow(LM.BROW_R, LM.EYE_R)]), mouth, rigid)


def head_rotation(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Rotation R (3x3) that best maps the centred ``ref`` points onto ``cur`` (Kabsch)."""
    u, _, vt = np.linalg.svd(cur.T @ ref)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1, 1, d]) @ vt


def yaw_pitch(rot: np.ndarray, roll_deg: float) -> tuple[float, float]:
    """Degrees, in the conventions of puppet.params, from R = Rz(roll) Rx(pitch) Ry(yaw)."""
    r = np.radians(roll_deg)
    unroll = np.array([[np.cos(r), np.sin(r), 0], [-np.sin(r), np.cos(r), 0], [0, 0, 1]])
    m = unroll @ rot
    yaw = np.degrees(np.arcsin(np.clip(m[0, 2], -1, 1)))
    pitch = np.degrees(np.arctan2(-m[1, 2], m[2, 2]))
    return float(yaw), float(pitch)


@dataclass(frozen=True)
class Neutral:
    """The user's rest face, against which measures are read."""

    measures: Measures
    frame_size: tuple[int, int]  # (w, h)


# A typical adult face at rest, for single still images with no calibration.
TYPICAL = dict(ear=0.27, gaze=np.zeros(2), brow=0.42, mouth=np.array([0.0, 0.0, 0.95]))


def to_params(m: Measures, neutral: Neutral | None, cfg: ExpressionConfig,
              frame_size: tuple[int, int]) -> np.ndarray:
    """Measures -> clipped params vector, relative to ``neutral`` (or a typical face)."""
    v = P.neutral()
    idx = P.INDEX
    if neutral is not None:
        n = neutral.measures
        roll = m.roll - n.roll
        yaw, pitch = yaw_pitch(head_rotation(n.rigid, m.rigid), roll)
        ear0, gaze0, brow0, mouth0 = n.ear, n.gaze, n.brow, n.mouth
        w, h = frame_size
        v[idx["offset_x"]] = (m.centre[0] - n.centre[0]) / w
        v[idx["offset_y"]] = (m.centre[1] - n.centre[1]) / h
        v[idx["scale"]] = m.iod / n.iod
    else:
        roll, yaw, pitch = m.roll, 0.0, 0.0
        ear0, gaze0 = np.full(2, TYPICAL["ear"]), TYPICAL["gaze"]
        brow0, mouth0 = np.full(2, TYPICAL["brow"]), TYPICAL["mouth"]
    v[idx["yaw"]], v[idx["pitch"]], v[idx["roll"]] = yaw, pitch, roll
    closed = cfg.eye_closed_ratio
    for k, name in enumerate(("eye_open_l", "eye_open_r")):
        v[idx[name]] = (m.ear[k] / max(ear0[k], 1e-3) - closed) / (1 - closed)
    v[idx["gaze_x"]], v[idx["gaze_y"]] = (m.gaze - gaze0) / _PER_UNIT["gaze_x"]
    v[idx["brow_l"]], v[idx["brow_r"]] = (m.brow - brow0) / _PER_UNIT["brow"]
    v[idx["mouth_open"]] = (m.mouth[0] - mouth0[0]) / _PER_UNIT["mouth_open"]
    v[idx["smile"]] = (m.mouth[1] - mouth0[1]) / _PER_UNIT["smile"]
    v[idx["mouth_width"]] = (m.mouth[2] / max(mouth0[2], 1e-3) - 1) / _PER_UNIT["mouth_width"]
    return shape(v, cfg)


def shape(v: np.ndarray, cfg: ExpressionConfig) -> np.ndarray:
    """Dead zone about rest, then gain, then the documented ranges."""
    v = v.copy()
    for name, i in P.INDEX.items():
        d = v[i] - P.REST[i]
        dz = cfg.dead_zone.get(name, 0.0)
        d = np.sign(d) * max(abs(d) - dz, 0.0)
        v[i] = P.REST[i] + d * cfg.gain.get(name, 1.0)
    return P.clip(v)
