"""Reference images of a procedural identity for meta-training the warp head.

The warp head draws a character with its own images, so in meta-training an identity's K frames
must look like what users give: an expression sheet (rest, a blink, a wink, open mouths, a smile,
a frown, raised or lowered brows), framed alike and mostly facing the camera. A few samples keep
randomly posed frames, so that a character drawn at another angle still works.
"""

from __future__ import annotations

import numpy as np

from puppet import params as P
from puppet.heads import Identity, render_head

from .renders import to_chw

POSED_SHARE = 0.15  # samples whose references are randomly posed
REST_SHARE = 0.7  # samples whose sheet includes the rest expression


def sheet_params(rng: np.random.Generator, k: int) -> np.ndarray:
    """[K, NUM_PARAMS]: K expressions of a sheet, a little varied, near-frontal."""
    names = list(P.PRESETS)
    picked = list(rng.choice(names, size=k, replace=k > len(names)))
    if "rest" not in picked and rng.random() < REST_SHARE:
        picked[0] = "rest"
    posed = rng.random() < POSED_SHARE
    out = []
    for name in picked:
        p = P.with_preset(P.neutral(), name)
        p[P.FACE_INDEX] += rng.normal(0, 0.06, len(P.FACE_INDEX)).astype(np.float32)
        if posed:
            pose = P.sample(rng)
            for n in P.POSE_NAMES:
                p[P.INDEX[n]] = pose[P.INDEX[n]]
        else:
            p[P.INDEX["yaw"]] = rng.normal(0, 4)
            p[P.INDEX["pitch"]] = rng.normal(0, 3)
            p[P.INDEX["roll"]] = rng.normal(0, 2)
            p[P.INDEX["scale"]] = 1 + rng.normal(0, 0.02)
        out.append(P.clip(p))
    return np.stack(out)


def reference_frames(ident: Identity, params: np.ndarray, res: int) -> np.ndarray:
    """float32 [K,4,R,R]: each render's RGB (with its background: the mask says what counts) and
    mask."""
    frames = []
    for p in params:
        r = render_head(ident, p, res)
        frames.append(np.concatenate([to_chw(r.rgb), r.mask[None]]))
    return np.stack(frames)
