"""Expression parameters as the networks read them out: each scaled from its range to [-1, 1]."""

from __future__ import annotations

import torch

from puppet import params as P


def to_unit(params: torch.Tensor) -> torch.Tensor:
    """[..., NUM_PARAMS] in their ranges -> [-1, 1]."""
    low, high = (torch.as_tensor(v, device=params.device) for v in (P.LOW, P.HIGH))
    return (params - low) / (high - low) * 2 - 1


def from_unit(unit: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`to_unit`, clamped into the ranges (a read-out is unbounded; a scale
    of zero or less would fold the head motion)."""
    low, high = (torch.as_tensor(v, device=unit.device) for v in (P.LOW, P.HIGH))
    return torch.minimum(torch.maximum(low + (unit + 1) / 2 * (high - low), low), high)
