"""Training the expression reader (``puppet-export train-reader``) and exporting it to ONNX.

Sets of styled procedural heads (:mod:`.data`) are rendered once and cached; each step takes a
few sets, a random number of each set's images (one to all: a single image must read alone),
augments them as a style would and reads each image beside its difference from its subset's
median. The mean is
learnt with an L1 loss, the variance with a Gaussian likelihood around the (detached) mean, so
a hard case widens the spread without pulling the mean. A few sets of faceless junk with random
targets teach the reader to answer those with a wide spread.

Labelled drawings (style folders as ``puppet-export eval-expressions`` reads them) can be mixed
in, as whole characters: no procedural style draws every convention of real ones (Lorelei's wide
eyes lose their dark iris, adventurer's tired eyes keep a round white under a lid). Characters
left out of training (``leave_out``) are what its figures on drawings may honestly be read on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from puppet import params as P
from puppet.expression_reader import EYES_MOUTH, FACE_SLOTS, IN_CHANNELS, RESOLUTION, WINDOW, reader_inputs
from puppet.files import atomic_write

from ..expression_eval import labelled_characters, require_names
from ..train.data import HELD_OUT_SEEDS
from .data import SetConfig, augment_set, junk_set, render_set
from .model import ReaderNet

log = logging.getLogger(__name__)

# Eyes and mouth decide the states fine-tuning gets most wrong; brows and width matter less.
SLOT_WEIGHTS = np.ones(len(FACE_SLOTS), np.float32)
SLOT_WEIGHTS[EYES_MOUTH] = 2.0


@dataclass(frozen=True)
class ReaderTrainConfig:
    sets: int = 2000  # training identities, seeds 1..sets
    val_sets: int = 48  # held-out identities (seeds from HELD_OUT_SEEDS) for the report
    sets_per_step: int = 8
    junk_share: float = 0.05
    labelled_share: float = 0.3  # of the sets, when labelled drawings are given
    lr: float = 1e-3
    minutes: float = 18.0  # wall-clock budget of the optimisation
    width: int = 32
    threads: int = 1
    seed: int = 0


def build_sets(seeds: range, cache: Path, cfg: SetConfig = SetConfig()) -> dict[str, np.ndarray]:
    """The rendered sets of ``seeds`` (rgb, mask, labels stacked [S, K, ...]), cached in ``cache``."""
    if cache.is_file():
        with np.load(cache) as f:
            if len(f["labels"]) == len(seeds):
                return {k: f[k] for k in f.files}
    t0 = time.time()
    rendered = [render_set(s, cfg) for s in seeds]
    out = {k: np.stack([r[i] for r in rendered]) for i, k in enumerate(("rgb", "mask", "labels"))}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    log.info("rendered %d sets in %.0f s -> %s", len(seeds), time.time() - t0, cache)
    return out


def labelled_sets(folders: list[Path], leave_out: tuple[str, ...] = ()) -> list[dict[str, np.ndarray]]:
    """The labelled characters of ``folders`` but those named in ``leave_out``, each as a set
    like :func:`.data.render_set`'s (rgb uint8 [K,R,R,3], mask uint8 [K,R,R], face labels), framed
    as characters of a proxy-driven base (the embedded one) are."""
    from puppet.sources import CropRule, load_sources

    characters = [c for folder in folders for c in labelled_characters(folder)]
    require_names(characters, leave_out, folders)
    sets = []
    for c in characters:
        if c.name not in leave_out:
            src = load_sources(list(c.paths), RESOLUTION, rule=CropRule.for_driving("proxy"))
            sets.append({"rgb": np.round(src.images.transpose(0, 2, 3, 1) * 255).astype(np.uint8),
                         "mask": np.round(src.masks[:, 0] * 255).astype(np.uint8),
                         "labels": c.truth[:, P.FACE_INDEX].astype(np.float32)})
    return sets


def _batch(data: dict[str, np.ndarray], labelled: list[dict[str, np.ndarray]], cfg: ReaderTrainConfig,
           rng: np.random.Generator):
    xs, ys = [], []
    for _ in range(cfg.sets_per_step):
        if labelled and rng.random() < cfg.labelled_share:
            one = labelled[rng.integers(len(labelled))]
            rgb, mask, labels = one["rgb"], one["mask"], one["labels"]
        else:
            s = rng.integers(len(data["labels"]))
            rgb, mask, labels = data["rgb"][s], data["mask"][s], data["labels"][s]
        k_all = len(labels)
        k = 1 if rng.random() < 0.15 else int(rng.integers(2, k_all + 1))
        pick = rng.choice(k_all, k, replace=False)
        rgb, mask, labels = rgb[pick], mask[pick], labels[pick]
        if rng.random() < cfg.junk_share:
            rgb, mask = junk_set(rng, k)  # targets of no image: a wide spread
        images, masks, labels = augment_set(rgb, mask, labels, rng)
        xs.append(reader_inputs(images, masks))
        ys.append(labels)
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def loss_fn(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    w = torch.from_numpy(SLOT_WEIGHTS)
    l1 = ((mean - target).abs() * w).mean()
    nll = 0.5 * (log_var + (mean.detach() - target) ** 2 * torch.exp(-log_var)).mean()
    return l1 + 0.1 * nll


@torch.no_grad()
def validate(model: ReaderNet, data: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean absolute error per slot on held-out sets, each read as a whole set."""
    model.eval()
    errors, spreads = [], []
    for rgb, mask, labels in zip(data["rgb"], data["mask"], data["labels"]):
        images = rgb.transpose(0, 3, 1, 2).astype(np.float32) / 255
        mean, log_var = model(torch.from_numpy(reader_inputs(images, mask[:, None].astype(np.float32) / 255)))
        errors.append(np.abs(mean.numpy() - labels))
        spreads.append(torch.exp(0.5 * log_var).numpy())
    model.train()
    err = np.concatenate(errors).mean(0)
    out = {f"mae_{n}": float(e) for n, e in zip(FACE_SLOTS, err)}
    out["spread_eyes_mouth"] = float(np.concatenate(spreads)[:, EYES_MOUTH].mean())
    return out


def train_reader(work: Path, cfg: ReaderTrainConfig = ReaderTrainConfig(),
                 labelled: list[dict[str, np.ndarray]] = (), init: Path | None = None) -> ReaderNet:
    """Train within ``cfg.minutes``; ``work`` holds the cached sets and ``reader.pt`` checkpoints
    (a run continues from one; a new run may start from another run's weights, ``init``), and
    ``labelled`` (:func:`labelled_sets`) are mixed in."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if cfg.sets >= HELD_OUT_SEEDS:
        raise ValueError(f"{cfg.sets} training sets reach the held-out seeds (>= {HELD_OUT_SEEDS})")
    data = build_sets(range(1, 1 + cfg.sets), work / f"sets_{cfg.sets}.npz")
    val = build_sets(range(HELD_OUT_SEEDS, HELD_OUT_SEEDS + cfg.val_sets), work / f"val_{cfg.val_sets}.npz")
    model = ReaderNet(cfg.width)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ckpt = work / "reader.pt"
    step, spent = 0, 0.0
    if ckpt.is_file():
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, spent = state["step"], state["seconds"]
    elif init is not None:
        model.load_state_dict(torch.load(init)["model"])
    budget = cfg.minutes * 60
    t0 = time.time() - spent
    while time.time() - t0 < budget:
        # Cosine decay over the time budget: the step count is not known ahead on a shared machine.
        for g in opt.param_groups:
            g["lr"] = cfg.lr * 0.5 * (1 + float(np.cos(np.pi * min(1.0, (time.time() - t0) / budget))))
        x, y = _batch(data, labelled, cfg, rng)
        mean, log_var = model(x)
        loss = loss_fn(mean, log_var, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            v = validate(model, val)
            log.info("step %d (%.0f s) loss %.3f | held-out MAE eyes %.3f/%.3f mouth %.3f smile %.3f | spread %.3f",
                     step, time.time() - t0, loss.item(), v["mae_eye_open_l"], v["mae_eye_open_r"],
                     v["mae_mouth_open"], v["mae_smile"], v["spread_eyes_mouth"])
            _save_checkpoint(ckpt, model, opt, step, time.time() - t0)
    _save_checkpoint(ckpt, model, opt, step, time.time() - t0)
    log.info("trained %d steps in %.0f s; held-out %s", step, time.time() - t0, validate(model, val))
    return model.eval()


def _save_checkpoint(path: Path, model: ReaderNet, opt: torch.optim.Optimizer, step: int, seconds: float) -> None:
    """Whole or not at all: an interrupt while saving must leave the previous checkpoint to resume from."""
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "seconds": seconds}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def export_onnx(model: ReaderNet, path: Path) -> None:
    """``x`` [N, 6, W, W] -> ``mean``, ``log_var`` [N, S], batch size free, fp32."""
    side = WINDOW[2]
    atomic_write(path, lambda tmp: torch.onnx.export(
        model.eval(), torch.zeros(2, IN_CHANNELS, side, side), str(tmp), input_names=["x"],
        output_names=["mean", "log_var"], opset_version=17, dynamo=False,
        dynamic_axes={"x": {0: "n"}, "mean": {0: "n"}, "log_var": {0: "n"}}))
