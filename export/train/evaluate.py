"""Quality report of a base model on held-out procedural identities (``puppet-export eval``).

For each identity (seeds never used in training) and a set of target expressions: the true render
of the identity with that expression is compared with the model's output when driven by
- the identity itself (self-driven),
- the proxy identity with the same expression (proxy-driven: how the live program drives it),
- nothing: the first identity frame (the static baseline).
Errors are masked L1 and PSNR over the whole image and over the eye and mouth regions. "Follows"
ratios say whether the output's eyes, mouth and head move when the driver's do: the change of the
output between two drivers (eyes open/shut, mouth closed/open, yaw -30/+30) over the same change
between the true renders (1 = moves as much as the truth, 0 = does not move).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from puppet import params as P
from puppet.heads import Identity, render_head

from ..base_model import load_base
from .data import HELD_OUT_SEEDS, eye_regions, mouth_region, to_chw


@dataclass(frozen=True)
class EvalConfig:
    identities: int = 16
    targets: int = 6  # random target expressions per identity
    k_frames: int = 3
    seed: int = 0
    proxy_seed: int = 0


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


def evaluate(base_path: Path, cfg: EvalConfig = EvalConfig()) -> dict:
    base = load_base(base_path, with_discriminator=False)
    model = base.model.eval()
    res = base.cfg.resolution
    proxy = Identity.from_seed(cfg.proxy_seed)
    rng = np.random.default_rng(cfg.seed)
    errors: dict[str, list[float]] = {}
    follows: dict[str, list[float]] = {k: [] for k in PAIRS}

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
        self_out = run(identity, [to_chw(t.rgb) for t in truths])
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
    report["identities"] = cfg.identities
    report["base"] = str(base_path)
    report["steps"] = base.info.get("steps")
    return report


def format_report(r: dict) -> str:
    lines = [f"{r['base']}  ({r['identities']} held-out identities, trained {r.get('steps')} steps)",
             f"{'driver':8s} {'masked L1':>10s} {'PSNR':>7s} {'eyes L1':>8s} {'mouth L1':>9s}"]
    for name in ("self", "proxy", "static"):
        lines.append(f"{name:8s} {r[f'{name}_l1']:10.4f} {r[f'{name}_psnr']:7.2f} "
                     f"{r[f'{name}_eyes_l1']:8.4f} {r[f'{name}_mouth_l1']:9.4f}")
    lines.append("follows (output change / true change, proxy-driven): " +
                 ", ".join(f"{k} {r[f'follows_{k}']:.2f}" for k in PAIRS))
    return "\n".join(lines)


def character_follow(bundle_path: Path, proxy_seed: int = 0) -> dict:
    """How much a character's picture moves when its proxy driver moves (no ground truth exists
    for a drawn character): mean change in the eye and mouth regions between eyes open/shut and
    mouth closed/open drivers, and the horizontal shift of the mask's centre between yaw -30/+30
    and its tilt between roll -25/+25 (degrees of the mask's principal axis)."""
    import onnxruntime as ort

    from puppet.bundle import read_bundle

    bundle = read_bundle(bundle_path)
    res = bundle.manifest.resolution
    sess = ort.InferenceSession(bundle.graph, providers=["CPUExecutionProvider"])
    proxy = Identity.from_seed(proxy_seed)

    def run(values: dict) -> tuple[np.ndarray, np.ndarray]:
        driver = to_chw(render_head(proxy, P.make(**values), res).rgb)[None]
        rgb, mask, _ = sess.run(None, {"driver": driver})
        return rgb[0] * mask[0], mask[0, 0]

    rest = render_head(proxy, P.neutral(), res)
    eyes, mouth = eye_regions(rest.points, res), mouth_region(rest.points, res)

    def centre_x(mask: np.ndarray) -> float:
        w = mask / max(mask.sum(), 1e-6)
        return float((w.sum(0) * np.arange(res)).sum())

    def tilt(mask: np.ndarray) -> float:
        ys, xs = np.nonzero(mask > 0.5)
        if len(xs) < 3:
            return 0.0
        cov = np.cov(np.stack([xs, ys]))
        vx, vy = np.linalg.eigh(cov)[1][:, -1]
        return float(np.degrees(np.arctan2(vx, vy if vy > 0 else -vy)))

    (o_open, _), (o_shut, _) = run({}), run({"eye_open_l": 0.0, "eye_open_r": 0.0})
    (m_closed, _), (m_open, _) = run({}), run({"mouth_open": 1.0})
    (_, left), (_, right) = run({"yaw": -30.0}), run({"yaw": 30.0})
    (_, ccw), (_, cw) = run({"roll": -25.0}), run({"roll": 25.0})
    return {"bundle": str(bundle_path),
            "eyes_change": float(np.mean([_l1(o_open, o_shut, e) for e in eyes])),
            "mouth_change": _l1(m_closed, m_open, mouth),
            "yaw_shift_px": centre_x(right) - centre_x(left),
            "roll_tilt_deg": tilt(cw) - tilt(ccw)}
