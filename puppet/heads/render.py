"""Drawing a procedural head: a painter's algorithm over shapes projected from a 3-D head.

The face is an ellipsoid (narrowed towards the chin); eyes, brows, nose and mouth are flat shapes
laid on its surface (:mod:`.features`), so yaw and pitch move and foreshorten them as on a curved
face, and the face outline (the convex hull of the projected surface) turns with the head. Layers
are drawn back to front (body, back hair, hood, ears, face, features, fringe, hat or hood rim,
glasses), which hides the far ear and the far side of the hair without any depth buffer.
Everything is OpenCV polygon filling with anti-aliasing and 4 bits of sub-pixel precision; nothing
depends on threads or on the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from puppet import params as P

from .draw import CIRCLE, Pen, fill, hull, shade, shape, stroke
from .features import brow, eye, mouth, nose
from .geometry import CENTRE, UNIT, Camera, Frame, ellipsoid, surface
from .identity import Identity

__all__ = ["CENTRE", "UNIT", "HeadRender", "render_head"]

LIGHT = np.array([-0.45, -0.55, 0.7]) / np.linalg.norm([-0.45, -0.55, 0.7])
FRINGE_FLOOR = 0.36  # a lowered fringe stops here: over the brows at rest, above the eyes


@dataclass(frozen=True)
class HeadRender:
    """rgb: uint8 [S,S,3]; mask: float32 [S,S] in [0,1]; points: name -> (x, y) in pixels."""

    rgb: np.ndarray
    mask: np.ndarray
    points: dict[str, tuple[float, float]]


@lru_cache(maxsize=512)
def _background(top: tuple, bottom: tuple, size: int) -> np.ndarray:
    t = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]  # [S,1,1]
    grad = (np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t).astype(np.uint8)
    img = np.repeat(grad, size, axis=1)  # [S,1,3] -> [S,S,3]
    img.setflags(write=False)
    return img


def _body(img, mask, ident: Identity, cam: Camera, pen: Pen) -> None:
    if ident.style.body == "none":
        return
    neck_w = 0.3 * ident.face_width
    neck = cam.body([[-neck_w, 0.3], [neck_w, 0.3], [neck_w * 1.1, 1.9], [-neck_w * 1.1, 1.9]])
    shape(img, mask, neck, shade(ident.skin, 0.88), pen)
    xs = np.linspace(-1, 1, 13)
    top = np.stack([xs * 2.1, 1.75 + 0.45 * xs ** 4], 1)
    shoulders = cam.body(np.concatenate([top, [[2.3, 4.0], [-2.3, 4.0]]]))
    shape(img, mask, shoulders, ident.cloth, pen)
    collar = cam.body([[-neck_w * 1.6, 1.72], [0, 2.25 if ident.collar else 2.0], [neck_w * 1.6, 1.72]])
    fill(img, collar, shade(ident.skin, 0.88) if not ident.collar else (245, 245, 245))
    stroke(img, collar, pen.ink, pen.outline, closed=False)


def _hair_extras(ident: Identity) -> list[np.ndarray]:
    """Style-specific hair volumes in head coordinates, each drawn as its own convex shape."""
    hv, fw = ident.hair_volume, ident.face_width * ident.hair_volume
    style = ident.hair_style
    if style == "long":
        return [np.array([[-fw * 1.05, -0.2, -0.5], [fw * 1.05, -0.2, -0.5], [fw * 1.1, 1.55, -0.6],
                          [-fw * 1.1, 1.55, -0.6], [0, 1.6, -0.8]])]
    if style == "bob":
        return [np.array([[-fw * 1.1, -0.3, -0.3], [fw * 1.1, -0.3, -0.3], [fw * 1.15, 0.85, -0.3],
                          [-fw * 1.15, 0.85, -0.3], [0, 0.9, -0.6]])]
    if style == "twintails":
        tail = np.array([[0, 0, 0], [0.32, 0.35, 0], [0.25, 1.6, 0], [-0.05, 1.8, 0], [-0.2, 0.5, 0]])
        left = tail * [-1, 1, 1] + [-fw * 1.02, -0.1, -0.3]
        return [left, tail + [fw * 1.02, -0.1, -0.3]]
    if style == "ponytail":
        c = np.array([0.0, -1.05 * hv, -0.75])
        return [c + np.concatenate([CIRCLE * 0.3, np.zeros((14, 1))], 1),
                np.array([[0, -1.0, -0.9], [0.25, -0.3, -1.25], [0, 0.6, -1.3], [-0.25, -0.3, -1.25]])]
    if style == "bun":
        c = np.array([0.0, -1.12 * hv, -0.2])
        return [c + np.concatenate([CIRCLE * 0.36, np.zeros((14, 1))], 1)]
    return []


def _hair_volume(ident: Identity) -> float:
    return ident.hair_volume * (0.95 if ident.hair_style == "buzz" else 1.0)


def _back_hair(img, mask, ident: Identity, cam: Camera, pen: Pen) -> None:
    hv = _hair_volume(ident)
    colour = shade(ident.hair, ident.style.hair_shade)
    e_min = {"buzz": 0.25, "short": 0.0, "spiky": 0.1}.get(ident.hair_style, -0.25)
    cap2, _ = cam.project(surface(ident, (hv, hv, hv), e_min=e_min))
    for extra in _hair_extras(ident):
        pts, _ = cam.project(extra)
        shape(img, mask, hull(pts), colour, pen)
    shape(img, mask, hull(cap2), colour, pen)
    if ident.hair_style == "spiky":
        for a in np.linspace(-1.4, 1.4, 7):
            base = ellipsoid(ident, [a - 0.25, a + 0.25], [0.9, 0.9], (hv, hv, hv))
            tip = ellipsoid(ident, [a], [1.25], (hv * 1.35, hv * 1.35, hv * 1.35))
            pts, _ = cam.project(np.concatenate([base, tip]))
            shape(img, mask, pts, colour, pen)


def _ears(img, mask, ident: Identity, cam: Camera, pen: Pen) -> None:
    for side in (-1, 1):
        f = Frame(ident, side * np.pi / 2 * 0.97, 0.05)
        outline = np.stack([0.12 * CIRCLE[:, 0] * -side * 0.5 - side * 0.05, 0.2 * CIRCLE[:, 1]], 1)
        shape(img, mask, cam.on_face(f, outline), shade(ident.skin, 0.92), pen)


def _face(img, mask, ident: Identity, cam: Camera, pen: Pen) -> None:
    pts = surface(ident, (1.0, 1.0, 1.0))
    proj, depth = cam.project(pts)
    outline = hull(proj)
    if ident.style.face_shade == 1.0:  # a flat fill
        fill(img, outline, ident.skin)
    else:
        fill(img, outline, shade(ident.skin, ident.style.face_shade))
        normals = pts / np.array([ident.face_width ** 2, 1.0, ident.face_depth ** 2])
        lit = (normals @ cam.rot.T) @ LIGHT > -0.15
        if lit.sum() >= 3:
            front = lit & (depth > 0)
            fill(img, hull(proj[front] if front.sum() >= 3 else proj[lit]), ident.skin)
    fill(mask, outline, 255)
    stroke(img, outline, pen.ink, pen.outline)


def _over(img, mask, cap: np.ndarray, edge: np.ndarray, colour, pen: Pen) -> bool:
    """Lay the part of the silhouette ``cap`` above the line ``edge`` over the face (a fringe, a
    hat, a hood's rim); False where it falls outside the picture."""
    size = img.shape[0]
    # Everything below the edge line, the line's ends carried out to the image sides.
    below = np.concatenate([[[-size, edge[0, 1]]], edge, [[2 * size, edge[-1, 1]], [2 * size, 2 * size],
                                                          [-size, 2 * size]]])
    x0, y0 = np.maximum(np.floor(cap.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(cap.max(0)).astype(int) + 2, size)
    if x1 <= x0 or y1 <= y0:
        return False
    # The layer carries the cap's outline; the alpha keeps the part above the edge line, so the
    # outline shows only where the layer meets the background.
    a_cap = np.zeros((y1 - y0, x1 - x0), np.uint8)
    a_below = np.zeros_like(a_cap)
    fill(a_cap, cap - [x0, y0], 255)
    stroke(a_cap, cap - [x0, y0], 255, pen.outline)
    fill(a_below, below - [x0, y0], 255)
    alpha = (a_cap.astype(np.uint16) * (255 - a_below) + 127) // 255  # [h,w] in 0..255
    roi = img[y0:y1, x0:x1]
    layer = np.empty_like(roi)
    layer[:] = colour
    stroke(layer, cap - [x0, y0], pen.ink, pen.outline)
    a3 = alpha[..., None]
    roi[:] = ((layer * a3 + roi * (255 - a3) + 127) // 255).astype(np.uint8)
    np.maximum(mask[y0:y1, x0:x1], alpha.astype(np.uint8), out=mask[y0:y1, x0:x1])
    stroke(img, edge, pen.ink, pen.outline, closed=False)
    return True


_FRINGE = {
    "short": lambda a: 0.62 + 0.08 * np.cos(3 * a),
    "spiky": lambda a: 0.55 + 0.12 * (np.arange(len(a)) % 2),
    "bob": lambda a: 0.48 + 0.02 * np.cos(4 * a),
    "bangs": lambda a: 0.4 + 0.0 * a,
    "long": lambda a: 0.62 - 0.15 * np.abs(a),
    "ponytail": lambda a: 0.7 - 0.08 * np.abs(a),
    "bun": lambda a: 0.72 - 0.05 * np.abs(a),
    "side_part": lambda a: 0.45 + 0.3 * (a + 1.2) / 2.4,
    "buzz": lambda a: 0.82 + 0.0 * a,
    "twintails": lambda a: 0.5 + 0.06 * np.cos(6 * a),
}


def _visible_line(ident: Identity, cam: Camera, a: np.ndarray, e: np.ndarray, scale: float) -> np.ndarray:
    edge, depth = cam.project(ellipsoid(ident, a, e, (scale, scale, scale)))
    return edge[depth > 0.02]


def _front_hair(img, mask, ident: Identity, cam: Camera, pen: Pen) -> None:
    """The hair over the forehead: the hair silhouette above the (visible) fringe line."""
    hv = _hair_volume(ident)
    cap, _ = cam.project(surface(ident, (hv, hv, hv), e_min=0.3))
    a = np.linspace(-1.3, 1.3, 17)
    e = _FRINGE[ident.hair_style](a)
    if ident.style.fringe_drop:
        e = np.maximum(e - ident.style.fringe_drop, FRINGE_FLOOR)
    edge = _visible_line(ident, cam, a, e, 1.02)
    if len(edge) < 2 or not _over(img, mask, hull(cap), edge, ident.hair, pen):
        return
    shine, sd = cam.project(ellipsoid(ident, np.linspace(-0.5, -0.1, 5), np.full(5, 1.05), (hv, hv, hv)))
    if sd.min() > 0:
        stroke(img, shine, shade(ident.hair, 1.6), pen.outline + 1, closed=False)


def _hood_back(img, mask, ident: Identity, cam: Camera, pen: Pen) -> None:
    pts, _ = cam.project(surface(ident, (1.45, 1.3, 1.35), e_min=-0.9))
    shape(img, mask, hull(pts), ident.style.headwear_colour, pen)


def _headwear(img, mask, ident: Identity, cam: Camera, pen: Pen) -> None:
    """A beanie over the hair, or the rim of a hood, whose back was drawn behind the head."""
    colour = ident.style.headwear_colour
    a = np.linspace(-1.6, 1.6, 17)
    if ident.style.headwear == "hat":
        hv = _hair_volume(ident) * 1.06
        cap, _ = cam.project(surface(ident, (hv, hv, hv), e_min=0.4))
        edge = _visible_line(ident, cam, a, np.full(17, 0.6), hv)
    else:
        cap, _ = cam.project(surface(ident, (1.4, 1.25, 1.3), e_min=0.1))
        edge = _visible_line(ident, cam, a, 0.78 - 0.22 * np.abs(a), 1.1)
    if len(edge) >= 2 and _over(img, mask, hull(cap), edge, colour, pen):
        stroke(img, edge, shade(colour, 0.75), max(2, img.shape[0] // 40), closed=False)


def _glasses(img, ident: Identity, cam: Camera, pen: Pen) -> None:
    r = ident.eye_width * 1.35
    outline = CIRCLE * [r, r * 0.85] if ident.glasses_round else np.array(
        [[-r, -r * 0.7], [r, -r * 0.7], [r, r * 0.75], [-r, r * 0.75]])
    rims = []
    for side in (-1, 1):
        f = Frame(ident, side * ident.eye_spacing, 0.02)
        if cam.facing(f.normal) > 0.05:
            pts = cam.on_face(f, outline)
            stroke(img, pts, (40, 40, 50), pen.line + 1)
            rims.append(pts)
    if len(rims) == 2:
        bridge = np.stack([rims[0][np.argmax(rims[0][:, 0])], rims[1][np.argmin(rims[1][:, 0])]])
        stroke(img, bridge, (40, 40, 50), pen.line + 1, closed=False)


def _blush(img, ident: Identity, cam: Camera) -> None:
    for side in (-1, 1):
        f = Frame(ident, side * (ident.eye_spacing + 0.08), -0.3)
        if cam.facing(f.normal) > 0.2:
            fill(img, cam.on_face(f, CIRCLE * [0.11, 0.05]), (255, 150, 150))


def _pen(ident: Identity, size: int) -> Pen:
    """Outline and feature line widths: the classic 1 px per 110 px, scaled by the style."""
    unit = size / 110
    outline = max(1, round(unit * ident.style.outline)) if ident.style.outline else 0
    # Features thicken with the outline, less than it: thick strokes would fill small eyes.
    return Pen(outline, max(1, round(unit * min(max(ident.style.outline, 1.0), 1.8))), ident.style.ink)


def render_head(ident: Identity, params: np.ndarray, size: int) -> HeadRender:
    """Draw ``ident`` with the expression/pose ``params`` (a puppet.params vector) at size x size."""
    if size < 16:
        raise ValueError(f"head size {size} is too small (16 px or more)")
    p = P.clip(params)
    cam = Camera(ident, p, size)
    pen = _pen(ident, size)
    style = ident.style
    img = _background(ident.background[0], ident.background[1], size).copy()
    mask = np.zeros((size, size), np.uint8)
    _body(img, mask, ident, cam, pen)
    _back_hair(img, mask, ident, cam, pen)
    if style.headwear == "hood":
        _hood_back(img, mask, ident, cam, pen)
    else:
        _ears(img, mask, ident, cam, pen)
    _face(img, mask, ident, cam, pen)
    if ident.blush:
        _blush(img, ident, cam)
    points = {"eye_l": eye(img, ident, cam, -1, p, pen), "eye_r": eye(img, ident, cam, 1, p, pen),
              "brow_l": brow(img, ident, cam, -1, p, pen), "brow_r": brow(img, ident, cam, 1, p, pen),
              "nose": nose(img, ident, cam, pen), "mouth": mouth(img, ident, cam, p, pen)}
    _front_hair(img, mask, ident, cam, pen)
    if style.headwear != "none":
        _headwear(img, mask, ident, cam, pen)
    if ident.glasses:
        _glasses(img, ident, cam, pen)
    points = {k: (float(v[0]), float(v[1])) for k, v in points.items()}
    return HeadRender(rgb=img, mask=mask.astype(np.float32) * (1 / 255), points=points)
