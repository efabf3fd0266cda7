"""A base model against the trivial answers, on sources as users give them (``puppet-export eval``).

Each held-out procedural identity gets the 8 source images a user would draw (rest, eyes shut,
a wink, mouth open, mouth wide, smile, frown, brows raised; framed alike, facing the camera) and
is driven by the proxy to target expressions at random head poses (yaw within +-30, pitch +-20,
roll +-25 degrees); or only the first of them (``sources``: 1 gives a one-image character the
rest drawing alone). Three rows on the same frames:

- ``static``: the rest source, as it is;
- ``nearest``: the source whose eyes, brows and mouth are nearest the target's, as it is;
- ``model``: the base model's picture, as the program draws it: the character's frozen graph (a
  warp head draws from the 8 sources, with the share of its learnt local flow given, all of it
  by default, as procedural characters are made; a synthesis head from their mean identity).

Figures: masked L1 and PSNR against the true render, L1 over the eyes and the mouth, sharpness
(mean absolute Laplacian over the face, output over truth: a blurred face scores below 1), and
follow: how the pictures move across :data:`~.evaluate.FOLLOW_DRIVERS` (eyes and mouth change,
yaw and pitch as feature shift in pixels, roll in degrees), each over the truth's. L1 alone
prefers a blank face; follow and sharpness keep the comparison honest.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from puppet import params as P
from puppet.heads import Identity, render_head

from ..base_model import BaseModel
from .. import expression_variants
from ..character import as_bytes, showing_drivers
from ..models import Shares
from ..onnx_export import character_graph
from .data import HELD_OUT_SEEDS, eye_regions, mouth_region
from .evaluate import FOLLOW_DRIVERS, motion
from .references import reference_frames
from .renders import proxy_render, to_chw

SHEET = ("rest", "blink", "wink left", "mouth open", "wide open", "smile", "frown", "brows up")
ROWS = ("static", "nearest", "model")
FOLLOW_KEYS = ("eyes_change", "mouth_change", "yaw_shift_px", "pitch_shift_px", "roll_deg")


@dataclass(frozen=True)
class SheetEvalConfig:
    identities: int = 16
    targets: int = 6  # random target expressions per identity
    seed: int = 0
    world: str = "classic"  # of the held-out identities
    shares: Shares = Shares()  # warp head: as ``character --local-flow`` and ``--residual``
    sources: int = len(SHEET)  # the first of the sheet's drawings each character gets (1: rest alone)
    # what those lack drawn into the rest drawing (``export.expression_variants``), as characters are made
    draw_missing: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.sources <= len(SHEET):
            raise ValueError(f"sources must be 1 to {len(SHEET)}, not {self.sources}")


def sheet_params(sources: int = len(SHEET)) -> np.ndarray:
    """[sources, NUM_PARAMS]: the expression sheet (its first ``sources`` drawings), facing the camera."""
    return np.stack([P.with_preset(P.neutral(), name) for name in SHEET[:sources]])


def target_params(rng: np.random.Generator) -> np.ndarray:
    """A random expression at a random head pose within the protocol's ranges, centred, at rest size."""
    p = P.sample(rng)
    for name, limit in (("yaw", 30.0), ("pitch", 20.0), ("roll", 25.0)):
        p[P.INDEX[name]] = np.clip(p[P.INDEX[name]], -limit, limit)
    p[P.INDEX["offset_x"]] = p[P.INDEX["offset_y"]] = 0.0
    p[P.INDEX["scale"]] = 1.0
    return p


def sharpness(picture: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute Laplacian of a [3,R,R] picture over ``region`` [R,R] (bool)."""
    grey = picture.mean(0).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[region].mean())


class _Character:
    """One held-out identity with its sheet, drawn by the model as the program would draw it."""

    def __init__(self, base: BaseModel, ident: Identity, res: int, shares: Shares = Shares(),
                 sources: int = len(SHEET), draw_missing: bool = False):
        self.base, self.ident, self.res = base, ident, res
        self.sheet = sheet_params(sources)
        refs = reference_frames(ident, self.sheet, res)  # [K,4,R,R]
        with torch.no_grad():  # of the sources given, not of what is drawn into them
            identity = base.model.identity(torch.from_numpy(refs[:, :3] * refs[:, 3:])[None])  # [1,K,3,R,R] -> [1,I]
        if draw_missing:
            refs, self.sheet = self.with_variants(refs)
        self.sources = refs[:, :3] * refs[:, 3:]  # [K,3,R,R] masked
        warp = {}
        if base.model.warp is not None:
            warp = {"references": as_bytes(refs[:, :3], refs[:, 3:]), "reference_params": torch.from_numpy(self.sheet),
                    "reference_drivers": torch.from_numpy(showing_drivers(base, self.sources, self.sheet)),
                    "shares": shares, "head_size": base.head_size_of(identity)}
        self.graph = character_graph(base.model, identity, **warp)  # as the program draws it

    def with_variants(self, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The references and their expressions with what they lack drawn into the rest drawing.
        Drawn on a render at twice the side (a user's drawing is larger than the model's), and
        what that changed added to the rest drawing: elsewhere each is the rest drawing exactly, as
        a drawing made from a user's image is."""
        wanted = expression_variants.wanted(self.sheet)
        big = reference_frames(self.ident, self.sheet[:1], 2 * self.res)[0]
        over_white = ((big[:3] * big[3:] + 1 - big[3:]).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
        try:
            drawn = expression_variants.variants(over_white, self.sheet[0], wanted)
        except expression_variants.FeaturesNotFound:
            return refs, self.sheet
        if not drawn:
            return refs, self.sheet

        def down(rgb: np.ndarray) -> np.ndarray:
            return to_chw(cv2.resize(rgb, (self.res, self.res), interpolation=cv2.INTER_AREA))

        extra = [np.concatenate([(refs[0, :3] + down(v.rgb) - down(over_white)).clip(0, 1), refs[0, 3:]]) for v in drawn]
        return np.concatenate([refs, np.stack(extra)]), np.concatenate([self.sheet, np.stack([v.params for v in drawn])])

    def model(self, params: np.ndarray) -> np.ndarray:
        """[T,3,R,R] masked pictures for the proxy driven at ``params`` [T, NUM_PARAMS]."""
        drivers = torch.from_numpy(np.stack([proxy_render(p, self.res, self.base.proxy_seed) for p in params]))
        with torch.no_grad():
            rgb, mask = self.graph(drivers)[:2]
        return (rgb * mask).numpy()

    def nearest(self, params: np.ndarray) -> np.ndarray:
        face = self.sheet[:, P.FACE_INDEX]
        picks = [int(np.argmin(np.abs(face - p[P.FACE_INDEX]).sum(1))) for p in params]
        return self.sources[picks]

    def static(self, params: np.ndarray) -> np.ndarray:
        return self.sources[np.zeros(len(params), int)]

    def truth(self, params: np.ndarray) -> tuple[np.ndarray, list]:
        renders = [render_head(self.ident, p, self.res) for p in params]
        return np.stack([to_chw(r.rgb) * r.mask[None] for r in renders]), renders


def sheet_evaluate(base: BaseModel, cfg: SheetEvalConfig = SheetEvalConfig()) -> dict:
    res = base.cfg.resolution
    rng = np.random.default_rng(cfg.seed)
    follow_params = np.stack([P.make(**v) for v in FOLLOW_DRIVERS.values()])
    sums: dict[str, list[float]] = {}
    moves: dict[str, list[dict[str, float]]] = {row: [] for row in (*ROWS, "truth")}

    def add(name: str, value: float) -> None:
        sums.setdefault(name, []).append(value)

    for i in range(cfg.identities):
        ident = Identity.from_seed(HELD_OUT_SEEDS + cfg.seed * 10_000 + i, cfg.world)
        character = _Character(base, ident, res, cfg.shares, cfg.sources, cfg.draw_missing)
        targets = np.stack([target_params(rng) for _ in range(cfg.targets)])
        real, renders = character.truth(targets)
        outputs = {row: getattr(character, row)(targets) for row in ROWS}
        for j, r in enumerate(renders):
            eyes, mouth = eye_regions(r.points, res), mouth_region(r.points, res)
            face = r.mask > 0.5
            truth_sharpness = max(sharpness(real[j], face), 1e-6)
            for row, out in outputs.items():
                diff = np.abs(out[j] - real[j])
                add(f"{row}_l1", float(diff.mean()))
                add(f"{row}_psnr", float(10 * np.log10(1 / max(float((diff ** 2).mean()), 1e-10))))
                add(f"{row}_eyes_l1", float(np.mean([diff[:, ys, xs].mean() for ys, xs in eyes])))
                add(f"{row}_mouth_l1", float(diff[:, mouth[0], mouth[1]].mean()))
                add(f"{row}_sharpness", sharpness(out[j], face) / truth_sharpness)
        pictures = {row: getattr(character, row)(follow_params) for row in ROWS}
        pictures["truth"] = character.truth(follow_params)[0]
        for row, pics in pictures.items():
            moves[row].append(motion(dict(zip(FOLLOW_DRIVERS, pics)), res, base.proxy_seed))
    report: dict = {k: float(np.mean(v)) for k, v in sums.items()}
    truth = {k: float(np.mean([m[k] for m in moves["truth"]])) for k in FOLLOW_KEYS}
    report.update({f"truth_{k}": v for k, v in truth.items()})
    for row in ROWS:
        for k in FOLLOW_KEYS:
            mean = float(np.mean([m[k] for m in moves[row]]))
            report[f"{row}_{k}"] = mean
            report[f"{row}_follow_{k}"] = mean / truth[k] if abs(truth[k]) > 1e-9 else float("nan")
    report.update(identities=cfg.identities, targets=cfg.targets, world=cfg.world, resolution=res,
                  local_flow=cfg.shares.local_flow, residual=cfg.shares.residual, sources=cfg.sources,
                  draw_missing=cfg.draw_missing)
    return report


def format_sheet_report(r: dict) -> str:
    sources = r.get("sources", len(SHEET))
    lines = [f"sources as users give them: {r['identities']} held-out identities ({r['world']} world) x "
             f"{r['targets']} targets, proxy-driven, {r['resolution']} px"
             + "".join(f", {name.replace('_', ' ')} x {r[name]:g}" for name in ("local_flow", "residual")
                       if r.get(name, 1.0) != 1.0)
             + (f", the first {sources} of the {len(SHEET)} sources" if sources != len(SHEET) else ""),
             "| row | masked L1 | PSNR | eyes L1 | mouth L1 | sharpness | follow eyes | mouth | yaw | pitch | roll |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in ROWS:
        follow = " | ".join(f"{r[f'{row}_follow_{k}']:.2f}" for k in FOLLOW_KEYS)
        lines.append(f"| {row} | {r[f'{row}_l1']:.4f} | {r[f'{row}_psnr']:.2f} | {r[f'{row}_eyes_l1']:.4f} | "
                     f"{r[f'{row}_mouth_l1']:.4f} | {r[f'{row}_sharpness']:.2f} | {follow} |")
    lines.append("truth's motion: " + ", ".join(f"{k} {r[f'truth_{k}']:+.3f}" for k in FOLLOW_KEYS))
    return "\n".join(lines)
