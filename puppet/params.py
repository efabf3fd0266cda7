"""The expression and pose parameter vector shared by face tracking and the procedural heads.

One vector describes a head: how it is turned and placed, and what its face does. Face tracking
produces it from a webcam frame; the procedural renderer draws a head from it; fine-tuning reads
it from (or asks the user for) each source image of a character. All three use this module, so
the meaning of every slot is defined exactly once.

Units are chosen so that a value means the same on every side:
- angles in degrees, positive yaw turns the head to ITS left (the viewer sees its right cheek
  more), positive pitch tilts the chin up, positive roll tilts the head clockwise on screen;
- offsets are fractions of the image side, positive x to the right, positive y downwards;
- scale is a factor on the head size (1.0 = the renderer's rest size);
- eye openness is 0 (shut) .. 1 (relaxed open) .. 1.3 (wide);
- everything else is a signed or unsigned amount in [-1, 1] or [0, 1], 0 at rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ParamSpec:
    name: str
    low: float
    high: float
    rest: float
    doc: str


PARAM_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("yaw", -40.0, 40.0, 0.0, "head turn in degrees, + = head turns to its left"),
    ParamSpec("pitch", -30.0, 30.0, 0.0, "head nod in degrees, + = chin up"),
    ParamSpec("roll", -35.0, 35.0, 0.0, "head tilt in degrees, + = clockwise on screen"),
    ParamSpec("offset_x", -0.15, 0.15, 0.0, "head shift, fraction of image width, + = right"),
    ParamSpec("offset_y", -0.15, 0.15, 0.0, "head shift, fraction of image height, + = down"),
    ParamSpec("scale", 0.8, 1.25, 1.0, "head size factor"),
    ParamSpec("eye_open_l", 0.0, 1.3, 1.0, "left eye (on screen) openness, 0 shut, 1 relaxed"),
    ParamSpec("eye_open_r", 0.0, 1.3, 1.0, "right eye (on screen) openness, 0 shut, 1 relaxed"),
    ParamSpec("gaze_x", -1.0, 1.0, 0.0, "iris position, + = looks to screen right"),
    ParamSpec("gaze_y", -1.0, 1.0, 0.0, "iris position, + = looks down"),
    ParamSpec("brow_l", -1.0, 1.0, 0.0, "left brow (on screen), + = raised, - = lowered"),
    ParamSpec("brow_r", -1.0, 1.0, 0.0, "right brow (on screen), + = raised, - = lowered"),
    ParamSpec("mouth_open", 0.0, 1.0, 0.0, "jaw opening, 0 closed, 1 wide open"),
    ParamSpec("smile", -1.0, 1.0, 0.0, "mouth corners, + = smile, - = frown"),
    ParamSpec("mouth_width", -1.0, 1.0, 0.0, "- = pucker, + = wide"),
)

PARAM_NAMES: tuple[str, ...] = tuple(s.name for s in PARAM_SPECS)
NUM_PARAMS = len(PARAM_SPECS)
INDEX: dict[str, int] = {name: i for i, name in enumerate(PARAM_NAMES)}

LOW = np.array([s.low for s in PARAM_SPECS], dtype=np.float32)
HIGH = np.array([s.high for s in PARAM_SPECS], dtype=np.float32)
REST = np.array([s.rest for s in PARAM_SPECS], dtype=np.float32)


def neutral() -> np.ndarray:
    """A fresh float32 [NUM_PARAMS] vector at rest (eyes relaxed open, everything else 0/1)."""
    return REST.copy()


def clip(params: np.ndarray) -> np.ndarray:
    """Clamp a [..., NUM_PARAMS] array into the documented ranges (returns a new array)."""
    return np.clip(np.asarray(params, dtype=np.float32), LOW, HIGH)


def make(**values: float) -> np.ndarray:
    """A rest vector with some slots set by name, e.g. ``make(yaw=20, mouth_open=0.8)``."""
    vec = neutral()
    for name, value in values.items():
        if name not in INDEX:
            raise KeyError(f"unknown expression parameter {name!r}; known: {', '.join(PARAM_NAMES)}")
        vec[INDEX[name]] = value
    return vec


def as_dict(params: np.ndarray) -> dict[str, float]:
    """Name -> value, for JSON files and readouts."""
    return {name: float(v) for name, v in zip(PARAM_NAMES, np.asarray(params).reshape(-1))}


def from_dict(values: dict[str, float]) -> np.ndarray:
    """Inverse of :func:`as_dict`; missing names take their rest value."""
    return make(**values)


# An uncertainty score from here up marks a reading as uncertain.
UNCERTAIN_AT = 0.5


def parse_expressions(text: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-image expressions from JSON text (``puppet-export expressions`` writes it, ``character
    --params`` and the review page read it): a list of ``count`` items, one per image, each an
    object of {name: value} (missing names at rest) or null (not given). An object's optional
    ``uncertain`` is no parameter but a doubt about the reading: true/false, or a score in [0, 1].

    Returns the values float32 [count, NUM_PARAMS], a row of NaN for null, and which readings are
    uncertain, bool [count]. Raises ValueError saying what is wrong.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e})") from None
    if not isinstance(raw, list) or len(raw) != count:
        raise ValueError(f"expected a JSON list of {count} objects, one per image")
    values = np.full((count, NUM_PARAMS), np.nan, np.float32)
    uncertain = np.zeros(count, bool)
    for i, item in enumerate(raw):
        if item is not None:
            try:
                values[i], uncertain[i] = _reading(item)
            except KeyError as e:  # str() of a KeyError would quote its message
                raise ValueError(f"image {i + 1}: {e.args[0]}") from None
            except (TypeError, ValueError) as e:
                raise ValueError(f"image {i + 1}: {e}") from None
    return values, uncertain


def _reading(item: object) -> tuple[np.ndarray, bool]:
    if not isinstance(item, dict):
        raise ValueError(f"expected an object of parameter values or null, got {item!r}")
    named = dict(item)
    doubt = named.pop("uncertain", False)
    return from_dict(named), doubt if isinstance(doubt, bool) else float(doubt) >= UNCERTAIN_AT


def sample(rng: np.random.Generator, spread: float = 1.0) -> np.ndarray:
    """A random vector for training data: uniform over the range, scaled about rest by ``spread``.

    Eyes and mouth are drawn so that shut eyes and open mouths are common enough for a model to
    learn them (a plain uniform draw makes a fully shut eye rare).
    """
    u = rng.uniform(LOW, HIGH).astype(np.float32)
    vec = REST + spread * (u - REST)
    # Blinks: often both eyes together, sometimes one.
    r = rng.random()
    if r < 0.2:
        vec[INDEX["eye_open_l"]] = vec[INDEX["eye_open_r"]] = rng.uniform(0.0, 0.25)
    elif r < 0.6:
        vec[INDEX["eye_open_r"]] = np.clip(vec[INDEX["eye_open_l"]] + rng.normal(0, 0.1), 0, 1.3)
    return clip(vec)


# What a face's expression is made of: the slots a preset sets (the rest, head pose and gaze, stay
# as they were read).
FACE_NAMES: tuple[str, ...] = ("eye_open_l", "eye_open_r", "brow_l", "brow_r", "mouth_open", "smile", "mouth_width")
FACE_INDEX: list[int] = [INDEX[n] for n in FACE_NAMES]
# How the head is turned and placed.
POSE_NAMES: tuple[str, ...] = ("yaw", "pitch", "roll", "offset_x", "offset_y", "scale")

# Expression presets for correcting a source image's reading with one click, in the order of the
# number keys 1..9, 0. Each names only what differs from rest; the values are those of the labelled
# drawings the readings are measured on (eyes 1.25 = white around the pupil; a small open mouth 0.35).
PRESETS: dict[str, dict[str, float]] = {
    "rest": {},
    "blink": {"eye_open_l": 0.0, "eye_open_r": 0.0},
    "wink left": {"eye_open_l": 0.0},
    "wink right": {"eye_open_r": 0.0},
    "mouth open": {"mouth_open": 0.35},
    "wide open": {"eye_open_l": 1.25, "eye_open_r": 1.25, "brow_l": 0.8, "brow_r": 0.8, "mouth_open": 0.7},
    "smile": {"smile": 0.8},
    "frown": {"smile": -0.8},
    "brows up": {"brow_l": 0.8, "brow_r": 0.8},
    "brows down": {"brow_l": -0.9, "brow_r": -0.9},
}


# What a source image counts as showing, for shown_expressions: the presets' values are 0
# (blink, wink) and 0.35 (mouth open).
SHUT_EYE, OPEN_MOUTH = 0.35, 0.3


def shown_expressions(expressions: np.ndarray) -> dict[str, bool]:
    """Whether any image of a character's set [N, NUM_PARAMS] shows the (on-screen) left eye shut,
    the right eye shut, and an open mouth: keys ``left``, ``right`` and ``mouth``."""
    e = np.asarray(expressions, dtype=np.float32).reshape(-1, NUM_PARAMS)
    shown = {side: bool((e[:, INDEX[f"eye_open_{side[0]}"]] <= SHUT_EYE).any()) for side in ("left", "right")}
    return {**shown, "mouth": bool((e[:, INDEX["mouth_open"]] >= OPEN_MOUTH).any())}


def missing_expressions(expressions: np.ndarray) -> list[str]:
    """What no image of a character's set [N, NUM_PARAMS] shows, with what the character then
    cannot do: a warp-head character (the embedded base) shows only its own drawings, and its
    residual paints next to nothing, so without shut eyes it does not blink and without an open
    mouth it does not talk. Empty when the set has both."""
    shown = shown_expressions(expressions)
    missing = []
    if not (shown["left"] or shown["right"]):
        missing.append("shut eyes, so the character will not blink")
    for side, other in (("left", "right"), ("right", "left")):
        if shown[other] and not shown[side]:
            missing.append(f"the {side} eye shut, so that eye will not close")
    if not shown["mouth"]:
        missing.append("an open mouth, so the character will not talk")
    return missing


def with_preset(params: np.ndarray, preset: str, add: bool = False) -> np.ndarray:
    """``params`` with an expression preset applied: the face (:data:`FACE_NAMES`) at rest with the
    preset's values, or (``add``) the preset's values set on the face as it is, to combine two.
    Head pose and gaze are kept either way."""
    if preset not in PRESETS:
        raise KeyError(f"unknown expression preset {preset!r}; known: {', '.join(PRESETS)}")
    out = np.asarray(params, dtype=np.float32).reshape(NUM_PARAMS).copy()
    if not add:
        out[FACE_INDEX] = REST[FACE_INDEX]
    for name, value in PRESETS[preset].items():
        out[INDEX[name]] = value
    return out
