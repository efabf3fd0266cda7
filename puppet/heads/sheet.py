"""A contact sheet of procedural heads: rows of identities, columns of expressions and poses."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from puppet import params

from .identity import Identity
from .render import render_head

COLUMNS: tuple[tuple[str, dict], ...] = (
    ("neutral", {}),
    ("eyes shut", {"eye_open_l": 0.0, "eye_open_r": 0.0}),
    ("mouth open", {"mouth_open": 0.9}),
    ("smile", {"smile": 1.0}),
    ("frown", {"smile": -1.0, "brow_l": -0.8, "brow_r": -0.8}),
    ("brows up", {"brow_l": 1.0, "brow_r": 1.0, "eye_open_l": 1.25, "eye_open_r": 1.25}),
    ("yaw left", {"yaw": -35.0}),
    ("yaw right", {"yaw": 35.0}),
    ("pitch up", {"pitch": 25.0}),
    ("pitch down", {"pitch": -25.0}),
    ("roll", {"roll": 25.0}),
    ("look side", {"gaze_x": 1.0}),
    ("wink", {"eye_open_r": 0.0, "smile": 0.6}),
    ("pucker", {"mouth_width": -1.0, "mouth_open": 0.2}),
)


def sheet_image(identities: Iterable[int], size: int = 128) -> np.ndarray:
    """uint8 [rows*size + header, cols*size, 3] RGB."""
    rows = []
    for seed in identities:
        ident = Identity.from_seed(seed)
        rows.append(np.concatenate([render_head(ident, params.make(**v), size).rgb for _, v in COLUMNS], 1))
    header = np.full((22, size * len(COLUMNS), 3), 255, np.uint8)
    for i, (name, _) in enumerate(COLUMNS):
        cv2.putText(header, name, (i * size + 4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header] + rows, 0)


def write_sheet(path: str | Path, identities: Iterable[int] = range(8), size: int = 128) -> Path:
    path = Path(path)
    img = sheet_image(identities, size)
    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: cannot write the sheet (unknown image type or unwritable folder)")
    return path
