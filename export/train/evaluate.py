"""Quality report of a base model on held-out procedural identities (``puppet-export eval``).

For each identity (seeds never used in training) and a set of target expressions: the true render
of the identity with that expression is compared with the model's output when driven by
- the identity itself (self-driven),
- the proxy identity with the same expression (proxy-driven: how the live program drives it),
- nothing: the first identity frame (the static baseline).
Errors are masked L1 and PSNR over the whole image and over the eye and mouth regions. "Follows"
ratios say whether the output's eyes, mouth and head move when the driver's do: the change of the
output between two drivers (eyes open/shut, mouth closed/open, yaw -30/+30) over the same change
between the true renders (1 = moves as much as the truth, 0 = does not move). Where the base has an
expression read-out (how a source image's head pose is read when none is given, and its face
where no expression reader is installed), its R2 on the true renders says how well it reads each parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from puppet import params as P
from puppet.heads import Identity, render_head

from ..base_model import BaseModel
from ..models.head_motion import face_uv, identity_grid
from .data import HELD_OUT_SEEDS, eye_regions, mouth_region
from .renders import proxy_render, to_chw


@dataclass(frozen=True)
class EvalConfig:
    identities: int = 16
    targets: int = 6  # random target expressions per identity
    k_frames: int = 3
    seed: int = 0


PAIRS = {"eyes": ({}, {"eye_open_l": 0.0, "eye_open_r": 0.0}),
         "mouth": ({}, {"mouth_open": 1.0}),
         "yaw": ({"yaw": -30.0}, {"yaw": 30.0})}


def _l1(a: np.ndarray, b: np.ndarray, region: tuple[slice, slice] | None = None) -> float:
    if region is not None:
        a, b = a[:, region[0], region[1]], b[:, region[0], region[1]]
    return float(np.abs(a - b).mean())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((np.clip(a, 0, 1) - b) ** 2).mean())
    return 10 * np.log10(1 / max(mse, 1e-10))


def evaluate(base: BaseModel, cfg: EvalConfig = EvalConfig()) -> dict:
    model = base.model.eval()
    res = base.cfg.resolution
    proxy = Identity.from_seed(base.proxy_seed)
    rng = np.random.default_rng(cfg.seed)
    errors: dict[str, list[float]] = {}
    follows: dict[str, list[float]] = {k: [] for k in PAIRS}
    read, true = [], []  # the expression read-out's answers on the true renders, and the truth

    def add(name: str, value: float) -> None:
        errors.setdefault(name, []).append(value)

    def run(identity: torch.Tensor, drivers: list[np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            rgb, mask = model(identity.expand(len(drivers), -1), torch.from_numpy(np.stack(drivers)))
            return (rgb * mask).numpy()

    for i in range(cfg.identities):
        ident = Identity.from_seed(HELD_OUT_SEEDS + cfg.seed * 10_000 + i)
        frames = []
        for _ in range(cfg.k_frames):
            r = render_head(ident, P.sample(rng), res)
            frames.append(to_chw(r.rgb) * r.mask[None])
        with torch.no_grad():
            identity = model.identity(torch.from_numpy(np.stack(frames))[None])  # [1,K,3,R,R] -> [1,I]
        targets = [P.sample(rng) for _ in range(cfg.targets)]
        truths = [render_head(ident, p, res) for p in targets]
        real = [to_chw(t.rgb) * t.mask[None] for t in truths]
        own = np.stack([to_chw(t.rgb) for t in truths])
        self_out = run(identity, list(own))
        if base.readout is not None:
            read.append(base.read_expression(own))
            true.append(np.stack(targets))
        proxy_out = run(identity, [to_chw(render_head(proxy, p, res).rgb) for p in targets])
        for j, truth in enumerate(truths):
            eyes, mouth = eye_regions(truth.points, res), mouth_region(truth.points, res)
            for name, out in (("self", self_out[j]), ("proxy", proxy_out[j]), ("static", frames[0])):
                add(f"{name}_l1", _l1(out, real[j]))
                add(f"{name}_psnr", _psnr(out, real[j]))
                add(f"{name}_eyes_l1", np.mean([_l1(out, real[j], e) for e in eyes]))
                add(f"{name}_mouth_l1", _l1(out, real[j], mouth))
        for name, (a, b) in PAIRS.items():
            ta, tb = render_head(ident, P.make(**a), res), render_head(ident, P.make(**b), res)
            oa, ob = run(identity, [to_chw(render_head(proxy, P.make(**v), res).rgb) for v in (a, b)])
            regions = {"eyes": eye_regions(ta.points, res), "mouth": [mouth_region(ta.points, res)],
                       "yaw": [None]}[name]
            real_a, real_b = to_chw(ta.rgb) * ta.mask[None], to_chw(tb.rgb) * tb.mask[None]
            truth_change = np.mean([_l1(real_a, real_b, r) for r in regions])
            out_change = np.mean([_l1(oa, ob, r) for r in regions])
            follows[name].append(out_change / max(truth_change, 1e-6))
    report = {k: float(np.mean(v)) for k, v in errors.items()}
    report.update({f"follows_{k}": float(np.mean(v)) for k, v in follows.items()})
    if read:
        pred, truth = np.concatenate(read), np.concatenate(true)
        r2 = 1 - ((pred - truth) ** 2).sum(0) / np.maximum(((truth - truth.mean(0)) ** 2).sum(0), 1e-9)
        report.update({f"readout_r2_{name}": float(v) for name, v in zip(P.PARAM_NAMES, r2)})
    report["identities"] = cfg.identities
    report["steps"] = base.info.get("steps")
    return report


def format_report(r: dict) -> str:
    lines = [f"{r['identities']} held-out identities, trained {r.get('steps')} steps",
             f"{'driver':8s} {'masked L1':>10s} {'PSNR':>7s} {'eyes L1':>8s} {'mouth L1':>9s}"]
    for name in ("self", "proxy", "static"):
        lines.append(f"{name:8s} {r[f'{name}_l1']:10.4f} {r[f'{name}_psnr']:7.2f} "
                     f"{r[f'{name}_eyes_l1']:8.4f} {r[f'{name}_mouth_l1']:9.4f}")
    lines.append("follows (output change / true change, proxy-driven): " +
                 ", ".join(f"{k} {r[f'follows_{k}']:.2f}" for k in PAIRS))
    if "readout_r2_yaw" in r:
        lines.append("expression read-out, R2 on the true renders (1 = exact, 0 = no better than the mean): " +
                     ", ".join(f"{n} {r[f'readout_r2_{n}']:.2f}" for n in P.PARAM_NAMES))
    return "\n".join(lines)


FOLLOW_SIDE = 128  # the pixels that follow's shifts are given in
FOLLOW_DRIVERS = {"rest": {}, "eyes_shut": {"eye_open_l": 0.0, "eye_open_r": 0.0}, "mouth_open": {"mouth_open": 1.0},
                  "yaw_left": {"yaw": -20.0}, "yaw_right": {"yaw": 20.0},
                  "chin_down": {"pitch": -15.0}, "chin_up": {"pitch": 15.0},
                  "roll_left": {"roll": -25.0}, "roll_right": {"roll": 25.0}}


def _feature_weights(picture: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights of the dark marks (eyes, brows, mouth) inside the face of a masked picture
    [3,R,R], summing to 1, with the pixel x and y grids: where the face's features are, whatever
    the character. The outline is no use: a turning head's outline hardly moves (the procedural
    heads' mask centre moves by 0-2 px between yaw -30 and +30) and the body does not roll."""
    grey = picture.mean(0)  # [3,R,R] -> [R,R]
    grid = identity_grid(res).numpy()
    u, v = face_uv(grid[..., 0], grid[..., 1])
    ys, xs = np.mgrid[0:res, 0:res].astype(np.float32)
    inside = u * u + v * v < 0.85 ** 2
    weight = np.clip(np.median(grey[inside]) - grey, 0, None) * inside  # darker than the skin
    return weight / max(weight.sum(), 1e-9), xs, ys


def feature_centre(picture: np.ndarray, res: int) -> tuple[float, float]:
    """(x, y) in pixels of the face's features."""
    w, xs, ys = _feature_weights(picture, res)
    return float((w * xs).sum()), float((w * ys).sum())


def feature_rotation(before: np.ndarray, after: np.ndarray, res: int) -> float:
    """Degrees (+ clockwise on screen) that best turn the face's features in ``before`` about
    the head centre onto those in ``after``: searched in 1-degree steps over +-60."""
    from puppet.heads import CENTRE

    a, b = _feature_weights(before, res)[0].astype(np.float32), _feature_weights(after, res)[0]
    centre = (CENTRE[0] * res, CENTRE[1] * res)

    def overlap(deg: float) -> float:
        turned = cv2.warpAffine(a, cv2.getRotationMatrix2D(centre, -deg, 1.0), (res, res))
        return float((turned * b).sum())

    return float(max(range(-60, 61), key=overlap))


def motion(pic: dict[str, np.ndarray], res: int, proxy_seed: int = 0) -> dict[str, float]:
    """How a head moves across the :data:`FOLLOW_DRIVERS` pictures (name -> masked RGB [3,R,R]):
    the mean change over the eyes (open -> shut) and the mouth (closed -> open), the
    horizontal shift of the features between yaw -20 and +20 (+ = to screen right, as the proxy
    turns), their vertical shift between chin down and up (- = up) and their rotation between
    roll -25 and +25 (+ = clockwise). Eye and mouth boxes are the proxy's at rest. Shifts are in
    pixels of a :data:`FOLLOW_SIDE` picture whatever ``res``, so that a character drawn at 256 or
    512 px compares with the truth and with the model's own resolution."""
    rest = render_head(Identity.from_seed(proxy_seed), P.neutral(), res)
    eyes, mouth = eye_regions(rest.points, res), mouth_region(rest.points, res)
    centre = {k: feature_centre(pic[k], res) for k in ("yaw_left", "yaw_right", "chin_down", "chin_up")}
    px = FOLLOW_SIDE / res
    return {"eyes_change": float(np.mean([_l1(pic["rest"], pic["eyes_shut"], e) for e in eyes])),
            "mouth_change": _l1(pic["rest"], pic["mouth_open"], mouth),
            "yaw_shift_px": px * (centre["yaw_right"][0] - centre["yaw_left"][0]),
            "pitch_shift_px": px * (centre["chin_up"][1] - centre["chin_down"][1]),
            "roll_deg": feature_rotation(pic["roll_left"], pic["roll_right"], res)}


def follow_pictures(bundle_path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """The proxy drivers at :data:`FOLLOW_DRIVERS` (the bundle's proxy identity, as the program
    drives it), the character's masked pictures for them, both float32 [len(FOLLOW_DRIVERS), 3,
    R, R], and that proxy seed."""
    from puppet.engine import Engine, EngineConfig

    engine = Engine.load(bundle_path, EngineConfig(device="cpu", warmup_runs=0))
    m = engine.manifest
    drivers = np.stack([proxy_render(P.make(**v), m.driver_resolution, m.proxy_seed) for v in FOLLOW_DRIVERS.values()])
    out = engine.run(drivers)
    engine.close()
    return drivers, out.rgb * out.mask, m.proxy_seed


def character_follow(bundle_path: Path) -> dict:
    """:func:`motion` of a character's pictures driven by the proxy at :data:`FOLLOW_DRIVERS`."""
    _, pictures, proxy_seed = follow_pictures(bundle_path)
    res = pictures.shape[-1]
    return {"name": bundle_path.name, **motion(dict(zip(FOLLOW_DRIVERS, pictures)), res, proxy_seed)}


def write_follow_sheet(bundle_paths: list[Path], path: Path) -> None:
    """PNG: the proxy drivers in the first row, each character's pictures in a row below (a
    character driven by another proxy identity than the first adds its drivers' row above its own)."""
    rows, shown = [], None
    for bundle_path in bundle_paths:
        drivers, pictures, proxy_seed = follow_pictures(bundle_path)
        rows += [drivers] if proxy_seed != shown else []
        shown = proxy_seed
        rows.append(pictures)
    side = max(r.shape[-1] for r in rows)  # drivers at the model's side, pictures at the output's
    lines = [np.concatenate(list(r.transpose(0, 2, 3, 1)), 1) for r in rows]  # [3,R,R] tiles -> [R,n*R,3]
    grid = np.concatenate([cv2.resize(line, (line.shape[1] * side // line.shape[0], side),
                                      interpolation=cv2.INTER_LINEAR) for line in lines], 0)
    img = Image.fromarray((np.clip(grid, 0, 1) * 255 + 0.5).astype(np.uint8))
    img.quantize(256).save(path, optimize=True)  # flat cartoon colours: a palette loses nothing visible


def reference_follow(seed: int, res: int, proxy_seed: int = 0) -> dict:
    """:func:`motion` of the true renders of procedural identity ``seed``: what a character made
    from that identity would do if it followed perfectly."""
    ident = Identity.from_seed(seed)
    pictures = {}
    for k, v in FOLLOW_DRIVERS.items():
        r = render_head(ident, P.make(**v), res)
        pictures[k] = to_chw(r.rgb) * r.mask[None]
    return {"name": f"truth of procedural {seed}", **motion(pictures, res, proxy_seed)}
