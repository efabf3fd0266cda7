"""Training sets for the expression reader: a styled procedural character's expression sheet.

Each set is one identity of the styled world drawn with several
expressions in one head pose, as a user's drawings of one character are, and framed the way
:func:`puppet.sources.load_sources` frames drawings: from the alpha channel, or from a mask
estimated over a flat background (white paper, mostly). Augmentation (:func:`augment_set`) acts
on a whole set alike, as a style would, with a little jitter per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from puppet import params as P
from puppet.expression_reader import FACE_SLOTS, RESOLUTION
from puppet.heads import Identity, render_head
from puppet.sources import CropRule, drawing_box, estimate_mask
from puppet.tracking import crop_square

SWAP_LR = [FACE_SLOTS.index(n.replace("_l", "_#").replace("_r", "_l").replace("_#", "_r")) for n in FACE_SLOTS]


@dataclass(frozen=True)
class SetConfig:
    images: int = 8  # expressions per set
    render_size: int = 256  # drawn larger than the crop, then reduced as drawings are
    pose_spread: float = 0.3  # of the parameter ranges: drawings face the viewer, or nearly
    rest_share: float = 0.2
    preset_share: float = 0.45  # sheet-like expressions: a preset, sometimes two, with jitter
    estimated_mask_share: float = 0.35  # sets on a flat background whose mask is estimated


def _expression(rng: np.random.Generator, cfg: SetConfig) -> np.ndarray:
    r = rng.random()
    if r < cfg.rest_share:
        return P.neutral()
    if r < cfg.rest_share + cfg.preset_share:
        names = list(P.PRESETS)
        vec = P.with_preset(P.neutral(), names[rng.integers(len(names))])
        if rng.random() < 0.4:
            vec = P.with_preset(vec, names[rng.integers(len(names))], add=True)
        jitter = rng.normal(0, 0.08, len(P.FACE_INDEX))
        vec[P.FACE_INDEX] += np.where(vec[P.FACE_INDEX] != P.REST[P.FACE_INDEX], jitter, 0)
        return P.clip(vec)
    return P.sample(rng)


def render_set(seed: int, cfg: SetConfig = SetConfig()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb uint8 [K,R,R,3], mask uint8 [K,R,R], face values float32 [K, len(FACE_SLOTS)]) of
    identity ``seed`` at the reader's crop resolution R."""
    rng = np.random.default_rng([seed, 0xEE])
    ident = Identity.from_seed(seed, world="styled")
    pose = P.REST + cfg.pose_spread * (rng.uniform(P.LOW, P.HIGH) - P.REST)
    flat = rng.random() < cfg.estimated_mask_share
    paper = np.array([255, 255, 255] if rng.random() < 0.6 else rng.integers(0, 256, 3), np.float32)
    rgbs, masks, labels = [], [], []
    for _ in range(cfg.images):
        vec = _expression(rng, cfg)
        vec[:6] = pose[:6] + rng.normal(0, 0.01, 6) * (P.HIGH[:6] - P.LOW[:6])
        vec[P.INDEX["gaze_x"]], vec[P.INDEX["gaze_y"]] = rng.uniform(-0.6, 0.6, 2)
        vec = P.clip(vec)
        head = render_head(ident, vec, cfg.render_size)
        rgb, mask = head.rgb, head.mask
        if flat:
            rgb = (rgb * mask[..., None] + paper * (1 - mask[..., None])).astype(np.uint8)
            mask = estimate_mask(rgb)
        square = drawing_box(mask, CropRule())
        rgbs.append(crop_square(rgb, square, RESOLUTION))
        masks.append((np.clip(crop_square(mask, square, RESOLUTION), 0, 1) * 255).astype(np.uint8))
        labels.append(vec[P.FACE_INDEX])
    return np.stack(rgbs), np.stack(masks), np.stack(labels).astype(np.float32)


def junk_set(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Images with no face (noise, blank, blobs): the reader learns to give them a wide spread."""
    kind = rng.integers(3)
    shape = (k, RESOLUTION, RESOLUTION)
    if kind == 0:
        rgb = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    elif kind == 1:
        rgb = np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), shape + (3,)).copy()
    else:
        rgb = np.zeros(shape + (3,), np.uint8)
        for img in rgb:
            for _ in range(rng.integers(2, 8)):
                centre = tuple(int(c) for c in rng.integers(0, RESOLUTION, 2))
                axes = tuple(int(a) for a in rng.integers(4, 50, 2))
                cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360,
                            tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    mask = np.full(shape, 255, np.uint8) if rng.random() < 0.5 else (rgb.max(-1) > 20).astype(np.uint8) * 255
    return rgb, mask


def augment_set(rgb: np.ndarray, mask: np.ndarray, labels: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A set's images float32 [K,3,R,R], masks [K,1,R,R] and labels, changed as another drawing
    style or framing would change them: mirror (left and right swap), scale and shift, thicker or
    thinner lines, blur, a lower resolution, colours, grey."""
    k, r = len(rgb), RESOLUTION
    if rng.random() < 0.5:
        rgb, mask, labels = rgb[:, :, ::-1], mask[:, :, ::-1], labels[:, SWAP_LR]
    scale, shift = rng.uniform(0.9, 1.12), rng.uniform(-6, 6, 2)
    line = rng.choice([0, 1, -1], p=[0.6, 0.25, 0.15])  # 1: dark lines thicker (erode), -1: thinner
    sigma = rng.uniform(0.4, 1.2) if rng.random() < 0.3 else 0.0
    perm = rng.permutation(3) if rng.random() < 0.3 else np.arange(3)
    gain = rng.uniform(0.85, 1.15, 3)
    grey = rng.random() < 0.1
    mask_edit = rng.choice([0, 1, -1], p=[0.8, 0.1, 0.1])
    # Fine-tuning's sources come at the model's resolution and are scaled up for the reader.
    resample = int(rng.choice([0, 128, 100], p=[0.5, 0.4, 0.1]))
    kernel = np.ones((3, 3), np.uint8)
    images, masks = np.empty((k, 3, r, r), np.float32), np.empty((k, 1, r, r), np.float32)
    for i in range(k):
        s = scale * rng.uniform(0.98, 1.02)
        t = shift + rng.uniform(-1.5, 1.5, 2)
        m = np.array([[s, 0, (1 - s) * r / 2 + t[0]], [0, s, (1 - s) * r / 2 + t[1]]], np.float32)
        img = cv2.warpAffine(np.ascontiguousarray(rgb[i]), m, (r, r), flags=cv2.INTER_LINEAR)
        msk = cv2.warpAffine(np.ascontiguousarray(mask[i]), m, (r, r), flags=cv2.INTER_LINEAR)
        if line == 1:
            img = cv2.erode(img, kernel)
        elif line == -1:
            img = cv2.dilate(img, kernel)
        if mask_edit == 1:
            msk = cv2.dilate(msk, kernel)
        elif mask_edit == -1:
            msk = cv2.erode(msk, kernel)
        if sigma:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        if resample:
            img = cv2.resize(cv2.resize(img, (resample, resample), interpolation=cv2.INTER_AREA), (r, r))
            msk = cv2.resize(cv2.resize(msk, (resample, resample), interpolation=cv2.INTER_AREA), (r, r))
        x = img[..., perm].astype(np.float32) / 255 * gain
        if grey:
            x = np.repeat(x.mean(-1, keepdims=True), 3, -1)
        images[i] = np.clip(x, 0, 1).transpose(2, 0, 1)
        masks[i, 0] = msk.astype(np.float32) / 255
    return images, masks, labels
