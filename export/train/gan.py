"""The adversarial half of a training step, shared by meta-training and fine-tuning.

The discriminator sees fakes and reals in one batch (``torch.cat([fake, real])``), conditioned
on the identity of each. The generator's terms are hinge and feature matching; the
discriminator's step is the hinge loss on the detached fakes.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

from . import losses as L


def generator_terms(disc: nn.Module, fake: torch.Tensor, real: torch.Tensor, cond: torch.Tensor,
                    w_adversarial: float, w_feature_matching: float) -> dict[str, torch.Tensor]:
    """``adv`` and ``fm``, weighted, for the generator's loss. ``cond`` [B, I] is the identity of
    the batch; whether the generator's gradient reaches it through the discriminator is the
    caller's choice (detach it or not). The discriminator is frozen for this pass: no gradients
    of its own are computed, and :func:`discriminator_step` unfreezes it."""
    disc.requires_grad_(False)
    score, feats = disc(torch.cat([fake, real]), torch.cat([cond, cond]))
    fake_feats = [f.chunk(2)[0] for f in feats]
    real_feats = [f.chunk(2)[1] for f in feats]
    return {"adv": w_adversarial * L.hinge_g(score.chunk(2)[0]),
            "fm": w_feature_matching * L.feature_matching(fake_feats, real_feats)}


def discriminator_step(disc: nn.Module, opt: torch.optim.Optimizer, fake: torch.Tensor, real: torch.Tensor,
                       cond: torch.Tensor, autocast: AbstractContextManager | None = None) -> torch.Tensor:
    """One update of the discriminator (``disc`` may be its DDP wrapper) on ``fake`` (detached
    here) against ``real``; returns the loss, detached."""
    disc.requires_grad_(True)
    cond = cond.detach()
    with autocast or nullcontext():
        score, _ = disc(torch.cat([fake.detach(), real]), torch.cat([cond, cond]))
        fake_score, real_score = score.chunk(2)
        loss = L.hinge_d(real_score, fake_score)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()
