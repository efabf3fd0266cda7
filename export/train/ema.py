"""Exponential moving averages of weights: what training and fine-tuning ship."""

from __future__ import annotations

import torch
from torch import nn


def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """Move ``ema``'s parameters ``1 - decay`` of the way to ``model``'s; copy the buffers."""
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters()):
            pe.lerp_(p, 1 - decay)
        for be, b in zip(ema.buffers(), model.buffers()):
            be.copy_(b)
