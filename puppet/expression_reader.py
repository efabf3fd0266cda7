"""Reading a character's source images' expressions with the dedicated reader (no torch).

The reader is a small CNN trained on the styled procedural heads and labelled drawings
(``puppet-export train-reader``) and shipped as ONNX. It sees each image together with the
per-pixel median of the character's set (as a difference), so it can tell what changes between a
character's drawings from what the style always draws; the median is symmetric in the images, so
the reading does not depend on their order, and a single image is its own median. It predicts the face's parameters (:data:`FACE_SLOTS`) with a
variance each; a reading whose eye or mouth spread is large is marked uncertain.

Input: the ``SourceSet`` images and masks (the drawing crop of
:func:`puppet.sources.load_sources`, scaled to :data:`RESOLUTION`); the reader looks at the
window of that crop where the head lies (:data:`WINDOW`), over a grey background, so black hair
on a transparent background shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from puppet import params as P
from puppet.assets import ASSETS_DIR

RESOLUTION = 160  # the crop load_sources makes for the reader
WINDOW = (8, 16, 128)  # top, left, side of the window read: rows 5-85 %, columns 10-90 % of the crop
BACKGROUND = 0.5  # grey under the mask: neither black hair nor white faces vanish into it
FACE_SLOTS: tuple[str, ...] = P.FACE_NAMES
IN_CHANNELS = 6  # the image and its difference from the set's median
# Where the eyes' and the mouth's readings are among the slots: the states fine-tuning gets most wrong.
EYES_MOUTH = [FACE_SLOTS.index(n) for n in ("eye_open_l", "eye_open_r", "mouth_open")]
DEFAULT_READER = ASSETS_DIR / "base" / "expressions.onnx"


@dataclass(frozen=True)
class UncertainAbove:
    """Predicted standard deviations above which a reading is marked uncertain."""

    eye: float = 0.25
    mouth: float = 0.2


@dataclass(frozen=True)
class Reading:
    """values: float32 [N, NUM_PARAMS] (slots the reader does not read at rest);
    spread: float32 [N, len(FACE_SLOTS)] predicted standard deviations; uncertain: bool [N]."""

    values: np.ndarray
    spread: np.ndarray
    uncertain: np.ndarray


def at_resolution(chw: np.ndarray) -> np.ndarray:
    """[N,C,R,R] float -> [N,C,RESOLUTION,RESOLUTION]: sources cropped at another resolution (the
    model's, for fine-tuning) scaled to the reader's; the crop is the same at any resolution."""
    if chw.shape[-1] == RESOLUTION:
        return chw
    interp = cv2.INTER_AREA if chw.shape[-1] > RESOLUTION else cv2.INTER_LINEAR
    out = [cv2.resize(np.ascontiguousarray(x.transpose(1, 2, 0)), (RESOLUTION, RESOLUTION), interpolation=interp)
           for x in chw]  # [C,R,R] -> [R,R,C]
    return np.stack([x.reshape(RESOLUTION, RESOLUTION, -1).transpose(2, 0, 1) for x in out])


def reader_inputs(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """float32 [N, 6, W, W] from images [N,3,R,R] and masks [N,1,R,R] (R = RESOLUTION): each
    window over grey, then its difference from the median of the set's windows (zero for a
    single image). Given as a difference, the change is what the network sees first: with the
    median itself as input it learnt nothing in 1200 steps, with the difference it did at once."""
    if images.shape[-1] != RESOLUTION or masks.shape[-1] != RESOLUTION:
        raise ValueError(f"the expression reader takes {RESOLUTION} px crops, got {images.shape[-1]} px")
    if len(images) == 0:
        raise ValueError("no images to read")
    top, left, side = WINDOW
    win = np.s_[..., top:top + side, left:left + side]
    m = masks[win]
    x = images[win] * m + BACKGROUND * (1 - m)
    change = x - np.median(x, axis=0, keepdims=True)
    return np.concatenate([x, change], axis=1).astype(np.float32)


def uncertain_from(spread: np.ndarray, limits: UncertainAbove = UncertainAbove()) -> np.ndarray:
    """bool [N]: eyes or mouth read with a predicted spread above ``limits``."""
    *eyes, mouth = EYES_MOUTH
    return (spread[:, eyes].max(axis=1) > limits.eye) | (spread[:, mouth] > limits.mouth)


class ExpressionReader:
    """The ONNX reader on the CPU: ``read(images, masks)`` -> :class:`Reading`."""

    def __init__(self, path: Path = DEFAULT_READER, limits: UncertainAbove = UncertainAbove()):
        from puppet.engine import make_session

        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no expression reader there (make one with puppet-export train-reader)")
        self.path, self.limits = Path(path), limits
        self.session = make_session(str(path), [("CPUExecutionProvider", {})], intra_op_threads=1)

    def read(self, images: np.ndarray, masks: np.ndarray) -> Reading:
        """images [N,3,R,R], masks [N,1,R,R] of one character, as ``load_sources`` crops them
        (at any R; RESOLUTION reads best)."""
        x = reader_inputs(at_resolution(images.astype(np.float32)), at_resolution(masks.astype(np.float32)))
        mean, log_var = self.session.run(["mean", "log_var"], {"x": x})
        values = np.stack([P.neutral() for _ in range(len(mean))])
        values[:, P.FACE_INDEX] = mean
        spread = np.exp(0.5 * log_var).astype(np.float32)
        return Reading(P.clip(values), spread, uncertain_from(spread, self.limits))


def default_reader() -> ExpressionReader | None:
    """The shipped reader, or None where it is not installed."""
    return ExpressionReader() if DEFAULT_READER.is_file() else None
