"""Pictures as the networks take them: float32 [3,R,R] RGB in [0,1]."""

from __future__ import annotations

import numpy as np

from puppet.heads import Identity, render_head


def to_chw(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32).transpose(2, 0, 1) / 255  # [S,S,3] uint8 -> [3,S,S] float


def proxy_render(params: np.ndarray, res: int, seed: int) -> np.ndarray:
    """The proxy head (procedural identity ``seed``) with expression ``params``: what drives a
    proxy-mode character, in training, fine-tuning and live."""
    return to_chw(render_head(Identity.from_seed(seed), params, res).rgb)
