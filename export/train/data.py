"""Training data: an endless stream of procedural heads, or a folder of talking-head videos.

A sample is one identity: ``identity`` float32 [K,3,R,R] (masked frames for the identity encoder),
``target`` [3,R,R] and ``mask`` [1,R,R] (the frame to reproduce), ``driver`` [3,R,R] (the pose
encoder's input: the augmented target, or for proxy-mode models sometimes the proxy identity's
render of the target's expression), ``features`` [1,R,R] (1 over the target's eyes and mouth: procedural
data only; zeros else) and ``params`` [NUM_PARAMS] (procedural data only; NaN else). For the
warp head (``SampleSpec.sheet``), also the references, their parameters, the regions' maps, the
head's size and, for proxy-mode models, ``reference_drivers`` [K,3,R,R]: the proxy showing each
reference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from puppet import params as P
from puppet.heads import PROXY, Identity, render_head
from puppet.tracking.native_log import quiet_for

from .augment import PoseAugment
from .references import reference_frames, sheet_params
from .renders import proxy_render, to_chw

log = logging.getLogger(__name__)

HELD_OUT_SEEDS = 10**6  # identities at or above this seed are never trained on
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm"}


def region(point: tuple[float, float], half: int, res: int) -> tuple[slice, slice]:
    """Rows and columns of the square of half-size ``half`` around ``point`` (x, y), clipped."""
    x, y = int(point[0]), int(point[1])
    return slice(max(y - half, 0), min(y + half, res)), slice(max(x - half, 0), min(x + half, res))


def eye_regions(points: dict[str, tuple[float, float]], res: int) -> list[tuple[slice, slice]]:
    return [region(points[k], max(res // 14, 2), res) for k in ("eye_l", "eye_r")]


def mouth_region(points: dict[str, tuple[float, float]], res: int) -> tuple[slice, slice]:
    return region(points["mouth"], max(res // 10, 2), res)


def feature_map(points: dict[str, tuple[float, float]], res: int) -> np.ndarray:
    """float32 [1,R,R]: 1 over the eyes and the mouth."""
    out = np.zeros((1, res, res), np.float32)
    for rows, cols in eye_regions(points, res) + [mouth_region(points, res)]:
        out[0, rows, cols] = 1
    return out


def region_maps(points: dict[str, tuple[float, float]], res: int) -> np.ndarray:
    """float32 [4,R,R]: the left eye, the right eye, the mouth and the rest of the picture, one
    of them 1 at each pixel (the warp head's regions, as the renderer places the features)."""
    out = np.zeros((4, res, res), np.float32)
    for i, (rows, cols) in enumerate(eye_regions(points, res) + [mouth_region(points, res)]):
        out[i, rows, cols] = 1
    out[3] = out[:3].sum(0) == 0
    return out


# Warp head: the share of targets whose face (eyes, brows, mouth) is one a reference shows, at a
# pose of its own, so that choosing that reference is learnt; the others are any expression.
SHEET_TARGETS = 0.5


@dataclass(frozen=True)
class SampleSpec:
    resolution: int
    k_frames: int
    proxy_prob: float  # 0 for face-mode models
    proxy_seed: int = 0
    augment: PoseAugment = PoseAugment()
    world: str = "classic"  # of the procedural identities (puppet.heads.Identity.from_seed)
    sheet: bool = False  # identity frames are an expression sheet, kept whole as the warp head's
    # references (``references`` [K,4,R,R] RGB and mask, ``reference_params``, ``regions``,
    # ``head_size``: the head's size relative to the proxy's, for the parallax of its turns)
    single_reference: float = 0.0  # the share of sheets that are one drawing at rest, K times over
    # (a one-image character: what it does not show, the residual has to paint)


def procedural_sample(seed: int, rng: np.random.Generator, spec: SampleSpec) -> dict[str, np.ndarray]:
    ident = Identity.from_seed(seed, spec.world)
    extra = {}
    if spec.sheet:
        sheet = sheet_params(rng, spec.k_frames)
        if rng.random() < spec.single_reference:
            sheet = np.repeat(P.with_preset(sheet[:1], "rest")[None], spec.k_frames, axis=0)
        references = reference_frames(ident, sheet, spec.resolution)
        frames = list(references[:, :3] * references[:, 3:])
        extra = {"references": references, "reference_params": sheet,
                 "head_size": np.float32(ident.head_size / PROXY.head_size)}
        if spec.proxy_prob > 0:  # as a frozen character reads its drawings: see WarpHead.calibrate
            extra["reference_drivers"] = np.stack([proxy_render(q, spec.resolution, spec.proxy_seed) for q in sheet])
    else:
        frames = []
        for _ in range(spec.k_frames):
            r = render_head(ident, P.sample(rng), spec.resolution)
            frames.append(to_chw(r.rgb) * r.mask[None])
    p = P.sample(rng)
    if spec.sheet and rng.random() < SHEET_TARGETS:
        p[P.FACE_INDEX] = extra["reference_params"][rng.integers(spec.k_frames), P.FACE_INDEX]
    target = render_head(ident, p, spec.resolution)
    if rng.random() < spec.proxy_prob:
        driver = proxy_render(p, spec.resolution, spec.proxy_seed)
    else:
        driver = to_chw(spec.augment(target.rgb, rng))
    if spec.sheet:
        extra["regions"] = region_maps(target.points, spec.resolution)
    return {"identity": np.stack(frames), "target": to_chw(target.rgb), "mask": target.mask[None],
            "driver": driver, "features": feature_map(target.points, spec.resolution), "params": p,
            **extra}


class ProceduralHeads(IterableDataset):
    """Endless: each sample draws a new identity seed in [1, HELD_OUT_SEEDS)."""

    def __init__(self, spec: SampleSpec, seed: int = 0, rank: int = 0, identities: int | None = None):
        self.spec, self.seed, self.rank = spec, seed, rank
        self.identities = identities  # a fixed small set (tests), or None for the endless stream

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info is not None else 0
        rng = np.random.default_rng([self.seed, self.rank, worker])
        while True:
            high = 1 + self.identities if self.identities else HELD_OUT_SEEDS
            yield procedural_sample(int(rng.integers(1, high)), rng, self.spec)


class VideoFolder(Dataset):
    """One identity per entry of ``root``: a video file or a folder of frames (face crops).

    Samples are drawn at random (frames, augmentation); ``samples_per_entry`` of them per entry
    make one pass (epoch), and :meth:`set_epoch` makes each pass draw new ones. Masks come from
    ``<entry>/masks/<frame name>.png`` when a frame folder has them; otherwise they are computed
    once with mediapipe's selfie segmentation and cached, with the resized frames, in
    ``<entry>.cache.npz`` beside the data.
    """

    def __init__(self, root: Path, spec: SampleSpec, seed: int = 0, samples_per_entry: int = 1000):
        self.root, self.spec, self.seed = Path(root), spec, seed
        self.samples_per_entry = samples_per_entry
        self.epoch = 0
        if not self.root.is_dir():
            raise FileNotFoundError(f"{root}: training data folder not found")
        self.entries = sorted(p for p in self.root.iterdir()
                              if (p.is_dir() and p.name != "masks") or p.suffix.lower() in VIDEO_SUFFIXES)
        if not self.entries:
            raise ValueError(f"{root}: no videos or frame folders inside")
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.entries) * self.samples_per_entry

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def frames(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [F,R,R,3] frames and float32 [F,R,R] masks of entry i (cached)."""
        if i not in self._cache:
            self._cache[i] = load_entry(self.entries[i], self.spec.resolution)
        return self._cache[i]

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        frames, masks = self.frames(index % len(self.entries))
        pick = rng.choice(len(frames), size=self.spec.k_frames + 1, replace=len(frames) <= self.spec.k_frames)
        ids, t = pick[:-1], pick[-1]
        identity = np.stack([to_chw(frames[j]) * masks[j][None] for j in ids])
        return {"identity": identity, "target": to_chw(frames[t]), "mask": masks[t][None],
                "driver": to_chw(self.spec.augment(frames[t], rng)),
                "features": np.zeros((1, *frames.shape[1:3]), np.float32),
                "params": np.full(P.NUM_PARAMS, np.nan, np.float32)}


def _read_frames(entry: Path, res: int) -> tuple[list[np.ndarray], list[Path]]:
    if entry.is_dir():
        files = sorted(p for p in entry.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        imgs = [cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in files]
        return [cv2.resize(im, (res, res), interpolation=cv2.INTER_AREA) for im in imgs], files
    import av

    with av.open(str(entry)) as container:
        imgs = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return [cv2.resize(im, (res, res), interpolation=cv2.INTER_AREA) for im in imgs], []


def load_entry(entry: Path, res: int) -> tuple[np.ndarray, np.ndarray]:
    cache = entry.with_name(entry.name + f".cache{res}.npz")
    if cache.is_file():
        with np.load(cache) as z:
            return z["frames"], z["masks"]
    frames, files = _read_frames(entry, res)
    if not frames:
        raise ValueError(f"{entry}: no frames")
    mask_dir = entry / "masks" if entry.is_dir() else None
    if mask_dir is not None and mask_dir.is_dir():
        masks = [cv2.resize(cv2.imread(str(mask_dir / (f.stem + ".png")), cv2.IMREAD_GRAYSCALE), (res, res))
                 .astype(np.float32) / 255 for f in files]
    else:
        masks = segment(frames)
    out = (np.stack(frames), np.stack(masks).astype(np.float32))
    np.savez_compressed(cache, frames=out[0], masks=out[1])
    log.info("cached %d frames of %s in %s", len(frames), entry, cache)
    return out


def segment(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Person masks from mediapipe's selfie segmentation (its model ships in the wheel)."""
    import mediapipe as mp

    quiet_for()
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        return [seg.process(f).segmentation_mask.astype(np.float32) for f in frames]


def collate(samples: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in samples[0]}
