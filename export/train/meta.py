"""Meta-training of a base model (``puppet-export train``), on one device or under torchrun (DDP)."""

from __future__ import annotations

import copy
import logging
import os
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from puppet import params as P

from ..base_model import BaseModel, save_base
from ..models import Discriminator, LatentPoseModel, get_config
from . import losses as L
from .checkpoint import load_training_state, save_training_state
from .config import TrainConfig
from .data import ProceduralHeads, SampleSpec, VideoFolder, collate
from .progress import Progress

log = logging.getLogger(__name__)

MOUTH_PARAMS = ("mouth_open", "smile", "mouth_width")


class Reenact(nn.Module):
    """The generator side as one module, so DDP sees encoders, generator and the training-only
    read-out of expression parameters from the pose code in one forward."""

    def __init__(self, model: LatentPoseModel, param_head: nn.Linear | None):
        super().__init__()
        self.model = model
        self.param_head = param_head

    def forward(self, frames: torch.Tensor, driver: torch.Tensor):
        identity = self.model.identity(frames)
        pose = self.model.pose(driver)
        rgb, mask = self.model.generator(identity, pose)
        return rgb, mask, identity, None if self.param_head is None else self.param_head(pose)


def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters()):
            pe.lerp_(p, 1 - decay)
        for be, b in zip(ema.buffers(), model.buffers()):
            be.copy_(b)


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
            if "ema_head" in fresh:
                self.ema_head.load_state_dict(self.param_head.state_dict())
            self.step = int(info["step"])
            log.info("resumed at step %d", self.step)

    def _modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "disc": self.disc, "ema": self.ema, "param_head": self.param_head,
                "ema_head": self.ema_head}

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d, "opt_p": self.opt_p}

    def loader(self):
        cfg = self.cfg
        spec = SampleSpec(self.mcfg.resolution, cfg.k_frames,
                          cfg.proxy_prob if self.mcfg.driving_mode == "proxy" else 0.0)
        seed = cfg.seed * 1000 + self.step  # a resumed run draws new samples
        if cfg.data == "procedural":
            data = ProceduralHeads(spec, seed=seed, rank=self.rank, identities=cfg.train_identities or None)
            kw = {}
        else:
            data = VideoFolder(Path(cfg.data), spec, seed=seed + self.rank)
            kw = {"shuffle": True}
        return DataLoader(data, batch_size=cfg.batch, num_workers=cfg.workers, collate_fn=collate,
                          persistent_workers=cfg.workers > 0, **kw)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        b = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        real = b["target"] * b["mask"]
        gan = cfg.w_adversarial > 0 and self.step >= cfg.gan_start
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()
        with autocast:
            rgb, mask, identity, params = self.reenact(b["identity"], b["driver"])
            fake = rgb * mask
            parts = {"l1": cfg.w_l1 * L.multiscale_l1(fake, real), "dice": cfg.w_dice * L.dice(mask, b["mask"])}
            if cfg.w_features:
                parts["feat"] = cfg.w_features * L.region_l1(fake, real, b["features"])
            if cfg.w_pose_params:
                read = L.param_regression(params.float(), b["params"], self.param_weights)
                parts["params"] = cfg.w_pose_params * read
            if self.perceptual is not None:
                parts["perc"] = cfg.w_perceptual * self.perceptual(fake, real)
            if gan:
                cond = identity.detach().repeat(2, 1)
                self.disc.requires_grad_(False)  # unwrapped and frozen: no D gradients in the G step
                score, feats = self.disc(torch.cat([fake, real]), cond)
                fake_feats = [f.chunk(2)[0] for f in feats]
                real_feats = [f.chunk(2)[1] for f in feats]
                parts["adv"] = cfg.w_adversarial * L.hinge_g(score.chunk(2)[0])
                parts["fm"] = cfg.w_feature_matching * L.feature_matching(fake_feats, real_feats)
            loss_g = sum(parts.values())
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_p.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.opt_p.step()
        update_ema(self.ema, self.model, cfg.ema)
        update_ema(self.ema_head, self.param_head, cfg.ema)
        if gan:
            self.disc.requires_grad_(True)
            with autocast:
                score, _ = self.disc_step(torch.cat([fake.detach(), real]), identity.detach().repeat(2, 1))
                fake_s, real_s = score.chunk(2)
                loss_d = L.hinge_d(real_s, fake_s)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            parts["d"] = loss_d
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
                            info=info, readout=readout), self.out / "base.safetensors")

    def run(self) -> list[dict[str, float]]:
        cfg = self.cfg
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            cfg.save(self.out / "config.json")
        history: list[dict[str, float]] = []
        bar = Progress(cfg.steps, self.step, "train ", enabled=self.rank == 0)
        self.model.train()
        self.disc.train()
        data = iter(self.loader())
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
