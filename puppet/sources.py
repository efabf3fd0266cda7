"""Source images of a character: reading, validating, cropping and masking them.

Each image becomes a square crop at the model's resolution plus a mask. Crops come from face
tracking when it finds a face in every image (the latent-pose crop of :mod:`puppet.tracking`) and
the base is face-driven; otherwise from the bounding box of each drawing's mask (see
:meth:`CropRule.for_driving`); ``precropped`` takes the image as it is.
Masks come from the alpha channel when it has transparent pixels, otherwise from an estimate of
the background colour, flagged when it looks unreliable. Inputs that are usable but probably not
what the user meant (an opaque alpha channel, grayscale, figures at very different scales) are
reported in ``SourceSet.warnings`` and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from puppet.tracking import Square, crop_square, detect_face_box, face_square

log = logging.getLogger(__name__)

MIN_SIDE = 32
MAX_PIXELS = 64_000_000
MAX_SOURCES = 16
OPAQUE = 250  # an alpha channel with no pixel below this hides nothing: it is no mask
GRAY_SPREAD = 2  # largest channel difference of a grayscale image (JPEG leaves a little colour)
MAX_SCALE_SPREAD = 1.5  # largest to smallest crop of one character's figures before it is reported


class SourceError(ValueError):
    """A source image that cannot be used; the message names the file."""


@dataclass(frozen=True)
class CropRule:
    """How source images are framed: by the face, where face tracking finds one in every image
    and ``faces`` allows it, else by each drawing's box."""

    drawing_scale: float = 1.6  # crop side / longest side of a drawing's bounding box
    drawing_centre_y: float = 0.42  # where a drawing's centre lands, as a fraction of the crop
    # (the procedural proxy's head centre, so that drawings and proxy renders are framed alike)
    faces: bool = True

    @classmethod
    def for_driving(cls, driving_mode: str) -> CropRule:
        """The framing of a base's drivers: a face-driven base's are face crops (the live side
        crops camera frames so); a proxy-driven base's, proxy renders, are framed by the figure.
        Face tracking's box of a cartoon face is small for its head: Jun (tests/data/drawn), whose
        every drawing it finds, came out with a face 1.57 times the proxy's when framed by it (0.83
        by the figure), and her eyes smeared across her cheek on a turn."""
        return cls(faces=driving_mode == "face")


@dataclass
class SourceSet:
    """images: float32 [N,3,R,R] RGB in [0,1]; masks: float32 [N,1,R,R] in [0,1]."""

    paths: list[Path]
    images: np.ndarray
    masks: np.ndarray
    mask_from_alpha: list[bool]
    squares: list[Square]  # each crop's box in its image's pixels
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


def is_grayscale(rgb: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the figure (the whole image when the mask is empty) has no colour."""
    figure = rgb[mask > 0.5] if (mask > 0.5).any() else rgb.reshape(-1, 3)
    return int((figure.max(axis=1) - figure.min(axis=1)).max()) <= GRAY_SPREAD


def drawing_box(mask: np.ndarray, rule: CropRule) -> Square:
    """The crop from the bounding box of the mask (a drawing, or the whole image)."""
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        h, w = mask.shape
        return w / 2, h / 2, float(max(h, w))
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    side = max(x1 - x0, y1 - y0) * rule.drawing_scale
    return (x0 + x1) / 2, (y0 + y1) / 2 + (0.5 - rule.drawing_centre_y) * side, side


def face_boxes(images: list[np.ndarray]) -> list[Square] | None:
    """Latent-pose face crops when face tracking finds a face in EVERY image (photos), else None:
    a face found in only some drawings would frame the set inconsistently."""
    squares = []
    for rgb in images:
        face = detect_face_box(rgb)
        if face is None:
            return None
        squares.append(face_square(face))
    return squares


def scale_warning(paths: list[Path], squares: list[Square], what: str) -> str | None:
    """A note naming the sources whose crop is far from the others' size, or None.

    Crops are all resized to one resolution, so a figure drawn at another scale (or framed with
    more or less of its body) comes out blurred or framed unlike the rest of the set."""
    sides = np.array([side for _, _, side in squares])
    if sides.max() <= MAX_SCALE_SPREAD * sides.min():
        return None
    median = float(np.median(sides))
    # Outside the square root of the limit about the median: at least the smallest or the largest.
    odd = [f"{p} ({s / median:.2f}x the median)" for p, s in zip(paths, sides)
           if max(s / median, median / s) > MAX_SCALE_SPREAD ** 0.5]
    return (f"the {what}'s size varies {sides.max() / sides.min():.1f}x across the sources (more than "
            f"{MAX_SCALE_SPREAD}x); far from the others: {', '.join(odd)}. "
            "Use images that show the character at one scale and framing")


def _read_source(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, list[str]]:
    """rgb, alpha (None: none that marks the character), mask and what is doubtful about it."""
    warnings = []
    rgb, alpha = read_image(path)
    if alpha is not None and alpha.min() >= OPAQUE:
        warnings.append(f"{path}: the alpha channel is opaque everywhere, so it does not mark the "
                        "character; its mask is estimated from the background instead")
        alpha = None
    mask = alpha.astype(np.float32) / 255 if alpha is not None else estimate_mask(rgb)
    if alpha is None:
        reason = mask_warning(mask, path)
        if reason:
            warnings.append(reason + "; check the preview, or use --no-mask")
    if is_grayscale(rgb, mask):
        warnings.append(f"{path}: the image is grayscale; the character learns its colours from "
                        "its sources, so this one pulls it towards grey")
    return rgb, alpha, mask, warnings


def _cropped(paths: list[Path], read: list[tuple], squares: list[Square], resolution: int,
             warnings: list[str]) -> SourceSet:
    images, masks = [], []
    for (rgb, _, mask, _), square in zip(read, squares):
        # Black under transparency: targets are image * mask, so hidden colour must not leak.
        rgb_c = crop_square(rgb, square, resolution).astype(np.float32) / 255
        images.append(rgb_c.transpose(2, 0, 1))  # [R,R,3] -> [3,R,R]
        masks.append(np.clip(crop_square(mask, square, resolution), 0, 1)[None])
    return SourceSet(paths, np.stack(images), np.stack(masks).astype(np.float32),
                     [alpha is not None for _, alpha, _, _ in read], list(squares), warnings)


def load_sources(paths: list[Path], resolution: int, precropped: bool = False,
                 rule: CropRule = CropRule(), warn: bool = True) -> SourceSet:
    """Each image cropped and masked at ``resolution``; SourceError names one that cannot be used.
    ``warn``: log the set's warnings (they are in ``warnings`` either way)."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise SourceError("no source images given")
    if len(paths) > MAX_SOURCES:
        raise SourceError(f"{len(paths)} images given; a character takes at most {MAX_SOURCES}: "
                          "choose those that differ most in expression and head pose")
    read = [_read_source(path) for path in paths]
    warnings = [w for *_, ws in read for w in ws]
    if precropped:
        squares = [(rgb.shape[1] / 2, rgb.shape[0] / 2, float(max(rgb.shape[:2]))) for rgb, *_ in read]
    else:
        faces = face_boxes([rgb for rgb, *_ in read]) if rule.faces else None
        squares = faces or [drawing_box(mask, rule) for _, _, mask, _ in read]
        reason = scale_warning(paths, squares, "face" if faces else "figure")
        if reason:
            warnings.append(reason)
    if warn:
        for w in warnings:
            log.warning(w)
    return _cropped(paths, read, squares, resolution, warnings)


def recrop(sources: SourceSet, indices: list[int], resolution: int) -> SourceSet:
    """The images at ``indices`` framed exactly as in ``sources``, at another resolution. The
    boxes were chosen on the whole set (faces found in every image, or else each drawing's box),
    so a subset framed afresh could be framed differently from the set it was chosen from."""
    paths = [sources.paths[i] for i in indices]
    return _cropped(paths, [_read_source(p) for p in paths], [sources.squares[i] for i in indices],
                    resolution, warnings=[])
