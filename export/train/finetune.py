"""Fine-tuning a character from its source images (``puppet-export character``).

As in the method: the identity starts as the identity encoder's mean embedding and becomes a
trainable parameter; the generator (all of it, or only its AdaIN MLP) and the discriminator
train; the encoders stay frozen; each image is identity source, driver and target at once.

A ``proxy``-mode character is driven live by the pose codes of proxy renders, so it is trained
against exactly those: each source image's expression parameters (given by the user, else read:
the face by the expression reader, the head's pose by the base's read-out, else face tracking,
else the rest values) are rendered on the proxy head, and the pose encoder's codes of
those renders drive the generator. Motion that the sources do not show is taught with warps
of them (:mod:`.warp`): a random yaw / pitch (2.5-D parallax) and roll / offset / scale of a
source is paired with a proxy render moved by the same amounts.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from puppet import params as P
from puppet.expression_reader import default_reader
from puppet.sources import SourceSet

from ..base_model import BaseModel
from ..models import Discriminator, LatentPoseModel
from . import losses as L
from . import warp
from .augment import PoseAugment
from .ema import update_ema
from .gan import discriminator_step, generator_terms
from .renders import proxy_render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    iterations: int | None = None  # None: about 125 for one image up to about 230 for many
    batch: int | None = None  # None: min(N, 8)
    lr_g: float = 5e-4
    lr_d: float = 8e-4
    ema: float = 0.972
    use_mask: bool = True
    use_dice: bool = True
    train_part: str = "all"  # "all": the whole generator; "mlp": only the AdaIN MLP (keeps the base's motion)
    warp_prob: float = 0.6  # proxy mode: chance of a warp paired with the same motion of the proxy
    max_yaw: float = 20.0
    max_pitch: float = 12.0
    max_roll: float = 25.0
    max_offset: float = 0.06
    scale_range: tuple[float, float] = (0.9, 1.1)
    w_l1: float = 1.0
    w_expression: float = 1.0  # L1 over where the sources differ from one another (see expression_map);
    # measured on procedural-1000013: eyes change 0.239 with it, 0.172 without (truth 0.194)
    w_dice: float = 1.0
    w_adversarial: float = 0.05
    w_feature_matching: float = 1.0
    gan_every: int = 2  # adversarial terms and discriminator updates on every n-th step (CPU time)
    seed: int = 0

    def steps_for(self, n_images: int) -> int:
        if self.iterations is not None:
            return self.iterations
        return round(125 + (230 - 125) * min(n_images - 1, 7) / 7)


def mean_identity(model: LatentPoseModel, sources: SourceSet) -> torch.Tensor:
    """[1, I]: the identity encoder's mean embedding of the masked source images."""
    images = torch.from_numpy(sources.images * sources.masks)  # [N,3,R,R], background black
    with torch.no_grad():
        return model.eval().identity(images[None])  # [1,N,3,R,R] -> [1,I]


@dataclass(frozen=True)
class SourceReading:
    """values: float32 [N, NUM_PARAMS]; uncertain: bool [N], a reading the reader doubts (never a
    value the user gave)."""

    values: np.ndarray
    uncertain: np.ndarray


def read_source_expressions(base: BaseModel, sources: SourceSet, given: np.ndarray | None) -> SourceReading:
    """Each image's expression. The user's values where given (a row of NaN: not given). Else the
    face (eyes, brows, mouth) from the dedicated expression reader where it is installed: the
    base model's read-out, learnt on one drawing style, read the labelled drawings of other styles
    worse than always answering rest. Head pose, gaze and (without that reader) the face come from
    the base model's read-out of the pose code; else face tracking's reading; else rest. The
    read-out comes before face tracking because face tracking finds cartoon faces but misreads
    them: on held-out procedural characters its mouth and brow readings were off by about half
    their range, the read-out's by a quarter or less."""
    n = len(sources.paths)
    if given is not None and given.shape != (n, P.NUM_PARAMS):
        raise ValueError(f"expected expression values for {n} images, got {given.shape[0]}")
    missing = [i for i in range(n) if given is None or np.isnan(given[i]).any()]
    out = np.stack([P.neutral() if i in missing else P.clip(given[i]) for i in range(n)])
    uncertain = np.zeros(n, bool)
    if not missing:
        return SourceReading(out, uncertain)
    reader = default_reader()
    if base.readout is not None:
        out[missing] = base.read_expression(sources.images[missing])
    else:
        from puppet.tracking import estimate_params

        for i in missing:
            found = estimate_params((sources.images[i].transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8))  # -> [R,R,3]
            if found is not None:
                out[i] = found
            elif reader is None:
                log.warning("%s: no face found and the base model has no expression read-out; "
                            "taking rest values (give them with --params)", sources.paths[i])
    if reader is not None:
        # The whole set is read, given rows included: each image is read beside the set's median.
        reading = reader.read(sources.images, sources.masks)
        out[np.ix_(missing, P.FACE_INDEX)] = reading.values[np.ix_(missing, P.FACE_INDEX)]
        uncertain[missing] = reading.uncertain[missing]
    return SourceReading(out, uncertain)


def source_expressions(base: BaseModel, sources: SourceSet, given: np.ndarray | None) -> np.ndarray:
    """[N, NUM_PARAMS]: the values of :func:`read_source_expressions`."""
    return read_source_expressions(base, sources, given).values


def expression_map(sources: SourceSet) -> np.ndarray:
    """float32 [1,R,R]: where the source images differ from one another (the per-pixel spread of
    the masked images, mean 1 over the figure), i.e. the eyes, mouth and brows that change with
    the expression. They are a few per cent of the picture, so a plain L1 hardly sees them; the
    fine-tuning loss weighs them up with this map. All zero for a single image."""
    x = sources.images * sources.masks
    spread = x.std(0).mean(0, keepdims=True)
    figure = sources.masks.mean(0) > 0.5
    level = spread[figure].mean() if figure.any() else 0.0
    return (spread / level if level > 1e-6 else np.zeros_like(spread)).astype(np.float32)


class _Batches:
    """Fine-tuning batches (drivers, targets, masks, expression maps), warped and paired on the fly;
    proxy renders of identity ``proxy_seed`` drive when ``expressions`` are given."""

    def __init__(self, sources: SourceSet, expressions: np.ndarray | None, res: int, proxy_seed: int,
                 cfg: FinetuneConfig):
        self.sources, self.expr, self.res, self.proxy_seed, self.cfg = sources, expressions, res, proxy_seed, cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.augment = PoseAugment()
        self.spread = expression_map(sources)

    def plain_drivers(self) -> np.ndarray:
        """[N,3,R,R]: what drives each source unwarped (proxy renders, or the sources themselves)."""
        if self.expr is None:
            return self.sources.images
        return np.stack([proxy_render(p, self.res, self.proxy_seed) for p in self.expr])

    def __call__(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(drivers, targets, masks, expression maps) for ``batch`` random sources."""
        cfg, rng = self.cfg, self.rng
        idx = rng.choice(len(self.sources.paths), size=batch, replace=len(self.sources.paths) < batch)
        drivers, layers = [], []
        for i in idx:
            img = np.concatenate([self.sources.images[i], self.sources.masks[i], self.spread])  # warped as one
            if self.expr is not None:
                p = self.expr[i].copy()
                if rng.random() < cfg.warp_prob:
                    yaw = rng.uniform(-cfg.max_yaw, cfg.max_yaw)
                    pitch = rng.uniform(-cfg.max_pitch, cfg.max_pitch)
                    roll = rng.uniform(-cfg.max_roll, cfg.max_roll)
                    dx, dy = rng.uniform(-cfg.max_offset, cfg.max_offset, 2)
                    s = rng.uniform(*cfg.scale_range)
                    img = warp.affine(warp.turn(img, yaw, pitch), roll, dx, dy, s)
                    p[P.INDEX["yaw"]] += yaw
                    p[P.INDEX["pitch"]] += pitch
                    p[P.INDEX["roll"]] += roll
                    p[P.INDEX["offset_x"]] += dx
                    p[P.INDEX["offset_y"]] += dy
                    p[P.INDEX["scale"]] *= s
                    p = P.clip(p)
                drivers.append(proxy_render(p, self.res, self.proxy_seed))
            else:
                rgb = (img[:3].transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)  # [3,R,R] -> [R,R,3]
                drivers.append(self.augment(rgb, rng).astype(np.float32).transpose(2, 0, 1) / 255)
            layers.append(img)
        layers = np.stack(layers)
        return np.stack(drivers), layers[:, :3], layers[:, 3:4], layers[:, 4:5]


def write_preview(path: Path, sources: SourceSet, drivers: np.ndarray, outputs: list[np.ndarray]) -> None:
    """PNG, one row per source: crop | mask | driver | each reconstruction given."""
    def tile(x: np.ndarray) -> np.ndarray:
        x = np.repeat(x, 3, 0) if x.shape[0] == 1 else x
        return (np.clip(x, 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)  # [3,R,R] -> [R,R,3]

    rows = []
    for i in range(len(sources.paths)):
        cells = [sources.images[i], sources.masks[i], drivers[i]] + [o[i] for o in outputs]
        rows.append(np.concatenate([tile(c) for c in cells], 1))
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))


def _reconstruct(model: LatentPoseModel, identity: torch.Tensor, drivers: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        d = torch.from_numpy(drivers)
        rgb, mask = model.eval()(identity.expand(len(d), -1), d)
        return (rgb * mask).numpy()


def finetune(base: BaseModel, sources: SourceSet, cfg: FinetuneConfig, source_params: np.ndarray | None = None,
             preview: Path | None = None,
             progress: Callable[[int, int], None] | None = None) -> tuple[LatentPoseModel, torch.Tensor]:
    """Returns the tuned model (EMA weights) and the character's identity [1, I]. A proxy-mode
    character is trained against the proxy identity of its base (``base.proxy_seed``)."""
    torch.manual_seed(cfg.seed)
    res = base.cfg.resolution
    model = copy.deepcopy(base.model).eval()
    identity0 = mean_identity(model, sources)
    steps = cfg.steps_for(len(sources.paths))
    if steps == 0 and preview is None:
        return model, identity0
    proxy = base.cfg.driving_mode == "proxy"
    expr = source_expressions(base, sources, source_params) if proxy else None
    batches = _Batches(sources, expr, res, base.proxy_seed, cfg)
    drivers = batches.plain_drivers()
    if preview is not None:
        write_preview(preview, sources, drivers, [_reconstruct(model, identity0, drivers)])
    if steps == 0:
        return model, identity0

    model.requires_grad_(False)
    gen = model.generator
    trainable = list(gen.mlp.parameters()) if cfg.train_part == "mlp" else list(gen.parameters())
    for p in trainable:
        p.requires_grad_(True)
    identity = nn.Parameter(identity0.clone())
    disc = copy.deepcopy(base.discriminator) if base.discriminator is not None else Discriminator(base.cfg)
    disc.train()
    opt_g = torch.optim.RAdam(trainable + [identity], lr=cfg.lr_g)
    opt_d = torch.optim.RAdam(disc.parameters(), lr=cfg.lr_d)
    ema_gen, ema_id = copy.deepcopy(gen).eval(), identity0.clone()
    batch = cfg.batch or min(len(sources.paths), 8)
    pose_encoder = model.pose_encoder.eval()
    for step in range(1, steps + 1):
        gan = cfg.w_adversarial > 0 and step % cfg.gan_every == 0
        drv, tgt, msk, spread = (torch.from_numpy(a) for a in batches(batch))
        with torch.no_grad():
            pose = pose_encoder(drv)
        real = tgt * msk if cfg.use_mask else tgt
        rgb, mask = gen(identity.expand(batch, -1), pose)
        fake = rgb * mask if cfg.use_mask else rgb
        loss = cfg.w_l1 * L.multiscale_l1(fake, real)
        if cfg.w_expression:
            loss = loss + cfg.w_expression * L.region_l1(fake, real, spread)
        if cfg.use_dice and cfg.use_mask:
            loss = loss + cfg.w_dice * L.dice(mask, msk)
        if gan:  # the identity learns from the discriminator too: it is not detached
            terms = generator_terms(disc, fake, real, identity.expand(batch, -1),
                                    cfg.w_adversarial, cfg.w_feature_matching)
            loss = loss + terms["adv"] + terms["fm"]
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        update_ema(ema_gen, gen, cfg.ema)
        with torch.no_grad():
            ema_id.lerp_(identity, 1 - cfg.ema)
        if gan:
            discriminator_step(disc, opt_d, fake, real, identity.expand(batch, -1))
        if progress is not None:
            progress(step, steps)
    model.generator = ema_gen
    model.requires_grad_(False)
    if preview is not None:
        write_preview(preview, sources, drivers, [_reconstruct(base.model, identity0, drivers),
                                                  _reconstruct(model, ema_id, drivers)])
    return model.eval(), ema_id.detach()
