"""Source images of a character: reading, validating, cropping and masking them.

Each image becomes a square crop at the model's resolution plus a mask. Crops come from face
tracking when it finds a face; otherwise from the alpha channel's bounding box or the drawing's
bounding box against its background; ``precropped`` takes the image as it is. Masks come from the
alpha channel when there is one, otherwise from an estimate of the background colour, flagged
when it looks unreliable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

MIN_SIDE = 32
MAX_PIXELS = 64_000_000
MAX_SOURCES = 16


class SourceError(ValueError):
    """A source image that cannot be used; the message names the file."""


@dataclass(frozen=True)
class CropRule:
    face_scale: float = 1.8  # crop side / face size, the latent-pose rule
    drawing_scale: float = 1.6  # crop side / longest side of a drawing's bounding box
    drawing_centre_y: float = 0.42  # where a drawing's centre lands, as a fraction of the crop
    # (the procedural proxy's head centre, so that drawings and proxy renders are framed alike)


@dataclass
class SourceSet:
    """images: float32 [N,3,R,R] RGB in [0,1]; masks: float32 [N,1,R,R] in [0,1]."""

    paths: list[Path]
    images: np.ndarray
    masks: np.ndarray
    mask_from_alpha: list[bool]
    warnings: list[str] = field(default_factory=list)


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(uint8 [H,W,3] RGB, uint8 [H,W] alpha or None); grayscale and palette images are converted."""
    if not path.is_file():
        raise SourceError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise SourceError(f"{path}: image is {im.width}x{im.height}, larger than this program takes "
                                  f"({MAX_PIXELS // 1_000_000} megapixels); scale it down first")
            im.load()
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            rgba = np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise SourceError(f"{path}: not a readable image ({e})") from None
    if min(rgba.shape[:2]) < MIN_SIDE:
        raise SourceError(f"{path}: image is {rgba.shape[1]}x{rgba.shape[0]}, smaller than {MIN_SIDE} px")
    alpha = rgba[..., 3].copy() if has_alpha else None
    if alpha is not None and alpha.max() < 8:
        raise SourceError(f"{path}: the image is fully transparent")
    return np.ascontiguousarray(rgba[..., :3]), alpha


def estimate_mask(rgb: np.ndarray) -> np.ndarray:
    """float32 [H,W] foreground estimate: pixels unlike the border colour, largest region, holes filled."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    bg = np.median(border, axis=0)
    dist = np.abs(rgb.astype(np.float32) - bg).max(axis=2)
    fg = (dist > 24).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return np.zeros(rgb.shape[:2], np.float32)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = (labels == largest).astype(np.uint8)
    # Fill holes: everything not reachable from the border through background is foreground.
    flood = region.copy()
    pad = np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8)
    cv2.floodFill(flood, pad, (0, 0), 1)
    holes = (flood == 0)
    region[holes] = 1
    return cv2.GaussianBlur(region.astype(np.float32), (3, 3), 0)


def mask_warning(mask: np.ndarray, path: Path) -> str | None:
    """A reason to distrust an estimated mask (nearly empty, nearly full, or fragmented), or None."""
    area = float((mask > 0.5).mean())
    if area < 0.05:
        return f"{path}: the estimated mask is nearly empty ({area:.0%} of the image)"
    if area > 0.95:
        return f"{path}: the estimated mask is nearly full ({area:.0%} of the image)"
    _, _, stats, _ = cv2.connectedComponentsWithStats((mask > 0.5).astype(np.uint8))
    big = int((stats[1:, cv2.CC_STAT_AREA] > 0.01 * mask.size).sum())
    if big > 3:
        return f"{path}: the estimated mask is fragmented ({big} separate regions)"
    return None


def _square_crop(img: np.ndarray, cx: float, cy: float, side: float, res: int, border: int) -> np.ndarray:
    """Resample the square (cx, cy, side) of ``img`` to res x res, padding outside with ``border``."""
    scale = res / side
    m = np.array([[scale, 0, res / 2 - cx * scale], [0, scale, res / 2 - cy * scale]], np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(img, m, (res, res), flags=interp, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


def drawing_box(mask: np.ndarray, rule: CropRule) -> tuple[float, float, float]:
    """(cx, cy, side) of the crop from the bounding box of the mask (a drawing, or the whole image)."""
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        h, w = mask.shape
        return w / 2, h / 2, float(max(h, w))
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    side = max(x1 - x0, y1 - y0) * rule.drawing_scale
    return (x0 + x1) / 2, (y0 + y1) / 2 + (0.5 - rule.drawing_centre_y) * side, side


def face_boxes(images: list[np.ndarray], rule: CropRule) -> list[tuple[float, float, float]] | None:
    """Latent-pose face crops when face tracking finds a face in EVERY image (photos), else None:
    a face found in only some drawings would frame the set inconsistently."""
    from puppet.tracking import detect_face_box

    boxes = []
    for rgb in images:
        face = detect_face_box(rgb)
        if face is None:
            return None
        cx, cy, size = face
        boxes.append((cx, cy, size * rule.face_scale))
    return boxes


def load_sources(paths: list[Path], resolution: int, precropped: bool = False,
                 rule: CropRule = CropRule()) -> SourceSet:
    if not paths:
        raise SourceError("no source images given")
    warnings: list[str] = []
    if len(paths) > MAX_SOURCES:
        warnings.append(f"{len(paths)} images given; the method is tuned for 1 to {MAX_SOURCES}, "
                        "more make fine-tuning slower and rarely better")
    read = []
    for path in map(Path, paths):
        rgb, alpha = read_image(path)
        mask = alpha.astype(np.float32) / 255 if alpha is not None else estimate_mask(rgb)
        if alpha is None:
            reason = mask_warning(mask, path)
            if reason:
                warnings.append(reason + "; check the preview, or use --no-mask")
        read.append((rgb, alpha, mask))
    if precropped:
        boxes = [(rgb.shape[1] / 2, rgb.shape[0] / 2, float(max(rgb.shape[:2]))) for rgb, _, _ in read]
    else:
        boxes = face_boxes([rgb for rgb, _, _ in read], rule) or [drawing_box(m, rule) for _, _, m in read]
    images, masks, from_alpha = [], [], []
    for (rgb, alpha, mask), (cx, cy, side) in zip(read, boxes):
        # Black under transparency: targets are image * mask, so hidden colour must not leak.
        rgb_c = _square_crop(rgb, cx, cy, side, resolution, border=0)
        mask_c = _square_crop(mask, cx, cy, side, resolution, border=0)
        images.append(rgb_c.astype(np.float32).transpose(2, 0, 1) / 255)  # [R,R,3] -> [3,R,R]
        masks.append(np.clip(mask_c, 0, 1)[None])
        from_alpha.append(alpha is not None)
    for w in warnings:
        log.warning(w)
    return SourceSet([Path(p) for p in paths], np.stack(images), np.stack(masks).astype(np.float32),
                     from_alpha, warnings)
