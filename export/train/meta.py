"""Meta-training of a base model (``puppet-export train``), on one device or under torchrun (DDP)."""

from __future__ import annotations

import copy
import itertools
import logging
import os
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler

from puppet import params as P

from ..base_model import BaseModel, load_base, save_base
from ..models import Discriminator, LatentPoseModel, get_config
from ..models.warp_head import MASK, RESIDUAL
from . import losses as L
from .checkpoint import load_training_state, save_training_state
from .config import TrainConfig
from .data import ProceduralHeads, SampleSpec, VideoFolder, collate
from .ema import update_ema
from .gan import discriminator_step, generator_terms
from .progress import Progress

log = logging.getLogger(__name__)

MOUTH_PARAMS = ("mouth_open", "smile", "mouth_width")


class Reenact(nn.Module):
    """The generator side as one module, so DDP sees encoders, generator and the read-out of
    expression parameters from the pose code in one forward. The synthesis head's read-out is
    training-only (``param_head``); the warp head's is its own ``warp.readout``, which moves it."""

    def __init__(self, model: LatentPoseModel, param_head: nn.Linear | None):
        super().__init__()
        self.model = model
        self.param_head = param_head

    def forward(self, frames: torch.Tensor, driver: torch.Tensor, references: torch.Tensor | None = None,
                reference_params: torch.Tensor | None = None, reference_drivers: torch.Tensor | None = None,
                head_size: torch.Tensor | None = None):
        """-> rgb, mask, identity, read-out parameters (or None), the warp head's output (or None).
        ``reference_drivers`` [B,R,3,H,W]: proxies showing the references, read as a frozen
        character reads them; ``head_size`` [B]: each head's size relative to the proxy's, which a
        frozen character reads from its identity (None: every head the proxy's size)."""
        identity = self.model.identity(frames)
        pose = self.model.pose(driver)
        if self.model.warp is not None:
            reference_unit = None if reference_drivers is None else self.model.read_references(reference_drivers)
            out = self.model.reenact(identity, pose, references, reference_params, reference_unit, head_size)
            return out.rgb, out.mask, identity, out.params, out
        rgb, mask = self.model.generator(identity, pose)
        return rgb, mask, identity, None if self.param_head is None else self.param_head(pose), None


def warm_start(model: LatentPoseModel, base: BaseModel) -> None:
    """Start ``model`` from a trained base of the same trunk: every tensor whose shape fits is
    copied; a synthesis base's output convolution seeds the warp head's residual and mask, and its
    expression read-out the warp head's."""
    own = model.state_dict()
    fits = {k: v for k, v in base.model.state_dict().items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fits, strict=False)
    with torch.no_grad():
        if model.warp is not None and base.model.warp is None:
            for name in ("weight", "bias"):
                src, dst = getattr(base.model.generator.out_conv, name), getattr(model.generator.out_conv, name)
                dst[RESIDUAL] = src[0:3]  # the synthesis head's RGB and mask channels
                dst[MASK] = src[3:4]
            if base.readout is not None:
                model.warp.readout.load_state_dict(base.readout.state_dict())
    log.info("warm start from %s: %d of %d tensors", base.info.get("trained_with", "a base model"), len(fits), len(own))


def _init_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if world > 1 else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def sample_sheet(batch: dict[str, torch.Tensor], fake: torch.Tensor, path: Path, rows: int = 4) -> None:
    """PNG: identity frames | driver | output | target, one sample per row."""
    def tiles(t):
        return (t.detach().float().clamp(0, 1).cpu().numpy().transpose(0, 2, 3, 1) * 255).astype(np.uint8)

    lines = []
    for i in range(min(rows, fake.shape[0])):
        ids = list(tiles(batch["identity"][i]))[:3]
        target = batch["target"][i:i + 1] * batch["mask"][i:i + 1]
        row = ids + [tiles(batch["driver"][i:i + 1])[0], tiles(fake[i:i + 1])[0], tiles(target)[0]]
        lines.append(np.concatenate(row, 1))
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(lines, 0), cv2.COLOR_RGB2BGR))


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.rank, self.world, self.device = _init_distributed()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.out = Path(cfg.out)
        torch.manual_seed(cfg.seed)  # same initial weights on every rank
        mcfg = get_config(cfg.preset)
        self.mcfg = mcfg
        self.model = LatentPoseModel(mcfg).to(self.device)
        self.disc = Discriminator(mcfg).to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.model.parameters(), cfg.lr_g, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.disc.parameters(), cfg.lr_d, betas=(0.5, 0.999))
        if cfg.init and not (cfg.resume and (self.out / "checkpoint.json").is_file()):
            warm_start(self.model, load_base(cfg.init, with_discriminator=False))
            self.ema.load_state_dict(self.model.state_dict())
        self.warp = self.model.warp is not None
        if self.warp:  # the read-out is the model's own, trained by opt_g
            self.param_head, self.ema_head, self.opt_p = self.model.warp.readout, self.ema.warp.readout, None
        else:
            self.param_head = nn.Linear(mcfg.pose_dim, P.NUM_PARAMS).to(self.device)
            self.ema_head = copy.deepcopy(self.param_head).requires_grad_(False)  # ships as the base's read-out
            self.opt_p = torch.optim.Adam(self.param_head.parameters(), cfg.lr_g, betas=(0.5, 0.999))
        self.param_weights = torch.tensor([cfg.mouth_emphasis if n in MOUTH_PARAMS else 1.0 for n in P.PARAM_NAMES],
                                          device=self.device)
        # Left out of the forward when unused: DDP insists that every parameter it sees gets a gradient.
        self.reenact = Reenact(self.model, self.param_head if cfg.w_pose_params else None)
        self.disc_step = self.disc
        if self.world > 1:
            self.reenact = DDP(self.reenact)
            self.disc_step = DDP(self.disc)
        self.perceptual = L.Perceptual(cfg.perceptual).to(self.device) if cfg.w_perceptual else None
        self.amp = cfg.amp and self.device.type == "cuda"
        self.step = 0
        if cfg.resume and (self.out / "checkpoint.json").is_file():
            info, fresh = load_training_state(self.out / "checkpoint", self._modules(), self._optimizers())
            if "ema_head" in fresh and not self.warp:
                self.ema_head.load_state_dict(self.param_head.state_dict())
            self.step = int(info["step"])
            log.info("resumed at step %d", self.step)

    def _modules(self) -> dict[str, nn.Module]:
        modules = {"model": self.model, "disc": self.disc, "ema": self.ema}
        if not self.warp:
            modules.update(param_head=self.param_head, ema_head=self.ema_head)
        return modules

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"opt_g": self.opt_g, "opt_d": self.opt_d}
        if self.opt_p is not None:
            optimizers["opt_p"] = self.opt_p
        return optimizers

    def loader(self) -> DataLoader:
        cfg = self.cfg
        spec = SampleSpec(self.mcfg.resolution, cfg.k_frames,
                          cfg.proxy_prob if self.mcfg.driving_mode == "proxy" else 0.0,
                          proxy_seed=cfg.proxy_seed, world=cfg.world, sheet=self.warp,
                          single_reference=cfg.single_reference)
        seed = cfg.seed * 1000 + self.step  # a resumed run draws new samples
        if cfg.data == "procedural":
            data = ProceduralHeads(spec, seed=seed, rank=self.rank, identities=cfg.train_identities or None)
            return DataLoader(data, batch_size=cfg.batch, num_workers=cfg.workers, collate_fn=collate,
                              persistent_workers=cfg.workers > 0)
        data = VideoFolder(Path(cfg.data), spec, seed=seed, samples_per_entry=cfg.samples_per_video)
        # Each rank takes its own share of every epoch; with one process the share is all of it.
        sampler = DistributedSampler(data, num_replicas=self.world, rank=self.rank, shuffle=True, seed=seed)
        if len(sampler) < cfg.batch:
            raise ValueError(f"{cfg.data}: one pass holds {len(sampler)} samples per process, fewer than a "
                             f"batch of {cfg.batch}; raise --samples-per-video")
        # Workers copy the dataset when they start, so they are started anew for each epoch: a
        # persistent worker would keep drawing the first epoch's samples.
        return DataLoader(data, batch_size=cfg.batch, sampler=sampler, num_workers=cfg.workers,
                          collate_fn=collate, drop_last=True)

    def batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """Training batches without end. Procedural heads are an endless stream; videos are a
        map-style dataset, passed over again and again: each pass (epoch) in a new order, with
        new frames and augmentations drawn for each index."""
        loader = self.loader()
        for epoch in itertools.count():
            if isinstance(loader.dataset, VideoFolder):
                loader.sampler.set_epoch(epoch)
                loader.dataset.set_epoch(epoch)
            yield from loader

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        b = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        real = b["target"] * b["mask"]
        gan = cfg.w_adversarial > 0 and self.step >= cfg.gan_start
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()
        with autocast:
            rgb, mask, identity, params, warp = self.reenact(b["identity"], b["driver"], b.get("references"),
                                                             b.get("reference_params"), b.get("reference_drivers"),
                                                             b.get("head_size"))
            fake = rgb * mask
            parts = {"l1": cfg.w_l1 * L.multiscale_l1(fake, real), "dice": cfg.w_dice * L.dice(mask, b["mask"])}
            if cfg.w_features:
                parts["feat"] = cfg.w_features * L.region_l1(fake, real, b["features"])
            if cfg.w_pose_params:
                read = L.param_regression(params.float(), b["params"], self.param_weights)
                parts["params"] = cfg.w_pose_params * read
            if warp is not None:
                parts["regions"] = cfg.w_regions * L.region_ce(warp.regions, b["regions"])
                parts["alpha"] = cfg.w_alpha * warp.alpha.mean()
            if self.perceptual is not None:
                parts["perc"] = cfg.w_perceptual * self.perceptual(fake, real)
            if gan:  # the unwrapped discriminator: DDP must not see it in the generator's step
                parts.update(generator_terms(self.disc, fake, real, identity.detach(),
                                             cfg.w_adversarial, cfg.w_feature_matching))
            loss_g = sum(parts.values())
        optimizers = [o for o in (self.opt_g, self.opt_p) if o is not None]
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss_g.backward()
        if cfg.clip_grad:
            params = [p for opt in optimizers for group in opt.param_groups for p in group["params"]]
            parts["gnorm"] = torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)  # before clipping
        for opt in optimizers:
            opt.step()
        update_ema(self.ema, self.model, cfg.ema)
        if not self.warp:  # the warp head's read-out is part of the model's EMA
            update_ema(self.ema_head, self.param_head, cfg.ema)
        if gan:
            parts["d"] = discriminator_step(self.disc_step, self.opt_d, fake, real, identity, autocast)
        self._last = (b, fake)
        return {k: float(v.detach()) for k, v in parts.items()}

    def save(self) -> None:
        if self.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        save_training_state(self.out / "checkpoint", self._modules(), self._optimizers(), {"step": self.step})
        info = {"steps": self.step, "trained_with": "puppet-export train", "config": asdict(self.cfg)}
        readout = copy.deepcopy(self.ema_head).cpu() if self.cfg.w_pose_params else None
        save_base(BaseModel(copy.deepcopy(self.ema).cpu(), copy.deepcopy(self.disc).cpu(), preset=self.cfg.preset,
                            info=info, readout=readout, proxy_seed=self.cfg.proxy_seed),
                  self.out / "base.safetensors")

    def run(self) -> list[dict[str, float]]:
        cfg = self.cfg
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            cfg.save(self.out / "config.json")
        history: list[dict[str, float]] = []
        bar = Progress(cfg.steps, self.step, "train ", enabled=self.rank == 0)
        self.model.train()
        self.disc.train()
        data = self.batches()
        while self.step < cfg.steps:
            losses = self.train_step(next(data))
            self.step += 1
            history.append(losses)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                recent = history[-cfg.log_every:]
                bar.update(self.step, " ".join(f"{k} {np.mean([h[k] for h in recent]):.4f}" for k in recent[-1]))
            if self.rank == 0 and cfg.sample_every and self.step % cfg.sample_every == 0:
                sample_sheet(*self._last, self.out / f"samples_{self.step:07d}.png")
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()
        return history


def train(cfg: TrainConfig) -> list[dict[str, float]]:
    return Trainer(cfg).run()
