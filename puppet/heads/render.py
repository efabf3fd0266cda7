"""Drawing a procedural head: a painter's algorithm over shapes projected from a 3-D head.

The face is an ellipsoid (narrowed towards the chin); eyes, brows, nose and mouth are flat shapes
laid on its surface, so yaw and pitch move and foreshorten them as on a curved face, and the face
outline (the convex hull of the projected surface) turns with the head. Layers are drawn back to
front (body, back hair, ears, face, features, fringe, glasses), which hides the far ear and the far
side of the hair without any depth buffer. Everything is OpenCV polygon filling with anti-aliasing
and 4 bits of sub-pixel precision; nothing depends on threads or on the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from puppet import params as P

from .identity import Identity

SHIFT = 4  # sub-pixel bits for cv2 drawing
ONE = 1 << SHIFT
OUTLINE = (35, 28, 30)
UNIT = 0.245  # face half-height as a fraction of the image side, at scale 1
CENTRE = (0.5, 0.42)  # head centre at rest, fractions of the image side
LIGHT = np.array([-0.45, -0.55, 0.7]) / np.linalg.norm([-0.45, -0.55, 0.7])


@dataclass(frozen=True)
class HeadRender:
    """rgb: uint8 [S,S,3]; mask: float32 [S,S] in [0,1]; points: name -> (x, y) in pixels."""

    rgb: np.ndarray
    mask: np.ndarray
    points: dict[str, tuple[float, float]]


# ---------------------------------------------------------------------------------------------
# geometry

def _rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Head rotation (x right, y down, z towards the viewer): + yaw moves the face to screen
    right, + pitch lifts the chin."""
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return rx @ ry


@lru_cache(maxsize=4096)
def _surface(ident: Identity, scale_xyz: tuple[float, float, float], n_a: int = 20, n_e: int = 10,
             e_min: float = -1.45) -> np.ndarray:
    """[n,3] sample points of the (chin-narrowed) head ellipsoid, for silhouettes by convex hull."""
    a = np.linspace(-np.pi, np.pi, n_a, endpoint=False)
    e = np.linspace(e_min, 1.5, n_e)
    aa, ee = np.meshgrid(a, e)  # [n_e, n_a] each
    pts = _ellipsoid(ident, aa.ravel(), ee.ravel(), scale_xyz)
    pts.setflags(write=False)
    return pts


def _ellipsoid(ident: Identity, a, e, scale_xyz=(1.0, 1.0, 1.0)) -> np.ndarray:
    a, e = np.asarray(a, float), np.asarray(e, float)
    sx, sy, sz = scale_xyz
    x = ident.face_width * sx * np.cos(e) * np.sin(a)
    y = -sy * np.sin(e)
    z = ident.face_depth * sz * np.cos(e) * np.cos(a)
    x = x * (1 - ident.chin * np.clip(y, 0, 1) ** 2)
    return np.stack([x, y, z], axis=-1)


class _Frame:
    """A local (u right, v up) frame laid on the face surface at azimuth a, elevation e."""

    def __init__(self, ident: Identity, a: float, e: float):
        d = 1e-3
        self.origin = _ellipsoid(ident, a, e)
        tu = _ellipsoid(ident, a + d, e) - self.origin
        tv = _ellipsoid(ident, a, e + d) - self.origin
        self.u = tu / np.linalg.norm(tu)
        self.v = tv / np.linalg.norm(tv)
        self.normal = np.cross(self.v, self.u)

    def to3d(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, float).reshape(-1, 2)
        return self.origin + uv[:, :1] * self.u + uv[:, 1:] * self.v


class _Camera:
    """Maps head coordinates to pixels for one set of pose parameters."""

    def __init__(self, ident: Identity, p: np.ndarray, size: int):
        self.rot = _rotation(p[P.INDEX["yaw"]], p[P.INDEX["pitch"]])
        roll = np.radians(p[P.INDEX["roll"]])
        c, s = np.cos(roll), np.sin(roll)
        k = UNIT * size * p[P.INDEX["scale"]] * ident.head_size
        self.lin = np.array([[c, -s], [s, c]]) * k  # roll (clockwise on screen, y down) and scale
        self.body_k = UNIT * size * p[P.INDEX["scale"]]
        self.centre = np.array([(CENTRE[0] + p[P.INDEX["offset_x"]]) * size,
                                (CENTRE[1] + p[P.INDEX["offset_y"]]) * size])
        self.size = size

    def project(self, pts3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[n,3] -> ([n,2] pixels, [n] depth towards the viewer)."""
        r = pts3 @ self.rot.T
        return r[:, :2] @ self.lin.T + self.centre, r[:, 2]

    def facing(self, normal: np.ndarray) -> float:
        return float((self.rot @ normal)[2])

    def body(self, pts2: np.ndarray) -> np.ndarray:
        """Body shapes follow the head's offset and scale but not its rotation."""
        return np.asarray(pts2, float) * self.body_k + self.centre


# ---------------------------------------------------------------------------------------------
# drawing primitives

def _fix(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts) * ONE).astype(np.int32).reshape(-1, 1, 2)


def _fill(img: np.ndarray, pts: np.ndarray, colour) -> None:
    cv2.fillPoly(img, [_fix(pts)], colour, cv2.LINE_AA, SHIFT)


def _stroke(img: np.ndarray, pts: np.ndarray, colour, width: int, closed: bool = True) -> None:
    cv2.polylines(img, [_fix(pts)], closed, colour, width, cv2.LINE_AA, SHIFT)


def _shape(img, mask, pts, colour, width) -> None:
    """A filled, outlined silhouette shape that also belongs to the character's mask."""
    _fill(img, pts, colour)
    _fill(mask, pts, 255)
    if width:
        _stroke(img, pts, OUTLINE, width)


def _inside(img: np.ndarray, clip: np.ndarray, shapes: list) -> None:
    """Draw ``shapes`` (points, colour) only inside the polygon ``clip`` (an eye opening)."""
    x0, y0 = np.floor(clip.min(0)).astype(int) - 1
    x1, y1 = np.ceil(clip.max(0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, img.shape[1]), min(y1, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    layer = roi.copy()
    for pts, colour in shapes:
        _fill(layer, pts - [x0, y0], colour)
    alpha = np.zeros(roi.shape[:2], np.uint8)
    _fill(alpha, clip - [x0, y0], 255)
    a = alpha[..., None].astype(np.uint16)
    roi[:] = ((layer * a + roi * (255 - a) + 127) // 255).astype(np.uint8)


def _hull(pts2: np.ndarray) -> np.ndarray:
    return cv2.convexHull(pts2.astype(np.float32)).reshape(-1, 2)


def _shade(colour, f: float):
    return tuple(int(min(255, c * f)) for c in colour)


@lru_cache(maxsize=512)
def _background(top: tuple, bottom: tuple, size: int) -> np.ndarray:
    t = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]  # [S,1,1]
    grad = (np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t).astype(np.uint8)
    img = np.repeat(grad, size, axis=1)  # [S,1,3] -> [S,S,3]
    img.setflags(write=False)
    return img


_T = np.linspace(0, 1, 9)
_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 14, endpoint=False)),
                    np.sin(np.linspace(0, 2 * np.pi, 14, endpoint=False))], 1)


# ---------------------------------------------------------------------------------------------
# layers

def _body(img, mask, ident: Identity, cam: _Camera, w: int) -> None:
    neck_w = 0.3 * ident.face_width
    neck = cam.body([[-neck_w, 0.3], [neck_w, 0.3], [neck_w * 1.1, 1.9], [-neck_w * 1.1, 1.9]])
    _shape(img, mask, neck, _shade(ident.skin, 0.88), w)
    xs = np.linspace(-1, 1, 13)
    top = np.stack([xs * 2.1, 1.75 + 0.45 * xs ** 4], 1)
    shoulders = cam.body(np.concatenate([top, [[2.3, 4.0], [-2.3, 4.0]]]))
    _shape(img, mask, shoulders, ident.cloth, w)
    collar = cam.body([[-neck_w * 1.6, 1.72], [0, 2.25 if ident.collar else 2.0], [neck_w * 1.6, 1.72]])
    _fill(img, collar, _shade(ident.skin, 0.88) if not ident.collar else (245, 245, 245))
    _stroke(img, collar, OUTLINE, w, closed=False)


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
        return [c + np.concatenate([_CIRCLE * 0.3, np.zeros((14, 1))], 1),
                np.array([[0, -1.0, -0.9], [0.25, -0.3, -1.25], [0, 0.6, -1.3], [-0.25, -0.3, -1.25]])]
    if style == "bun":
        c = np.array([0.0, -1.12 * hv, -0.2])
        return [c + np.concatenate([_CIRCLE * 0.36, np.zeros((14, 1))], 1)]
    return []


def _back_hair(img, mask, ident: Identity, cam: _Camera, w: int) -> None:
    hv = ident.hair_volume * (0.95 if ident.hair_style == "buzz" else 1.0)
    e_min = {"buzz": 0.25, "short": 0.0, "spiky": 0.1}.get(ident.hair_style, -0.25)
    cap2, _ = cam.project(_surface(ident, (hv, hv, hv), e_min=e_min))
    for extra in _hair_extras(ident):
        pts, _ = cam.project(extra)
        _shape(img, mask, _hull(pts), ident.hair, w)
    _shape(img, mask, _hull(cap2), ident.hair, w)
    if ident.hair_style == "spiky":
        for a in np.linspace(-1.4, 1.4, 7):
            base = _ellipsoid(ident, [a - 0.25, a + 0.25], [0.9, 0.9], (hv, hv, hv))
            tip = _ellipsoid(ident, [a], [1.25], (hv * 1.35, hv * 1.35, hv * 1.35))
            pts, _ = cam.project(np.concatenate([base, tip]))
            _shape(img, mask, pts, ident.hair, w)


def _ears(img, mask, ident: Identity, cam: _Camera, w: int) -> None:
    for side in (-1, 1):
        f = _Frame(ident, side * np.pi / 2 * 0.97, 0.05)
        shape = np.stack([0.12 * _CIRCLE[:, 0] * -side * 0.5 - side * 0.05, 0.2 * _CIRCLE[:, 1]], 1)
        pts, _ = cam.project(f.to3d(shape))
        _shape(img, mask, pts, _shade(ident.skin, 0.92), w)


def _face(img, mask, ident: Identity, cam: _Camera, w: int) -> np.ndarray:
    pts = _surface(ident, (1.0, 1.0, 1.0))
    proj, depth = cam.project(pts)
    outline = _hull(proj)
    _fill(img, outline, _shade(ident.skin, 0.86))
    _fill(mask, outline, 255)
    normals = pts / np.array([ident.face_width ** 2, 1.0, ident.face_depth ** 2])
    lit = (normals @ cam.rot.T) @ LIGHT > -0.15
    if lit.sum() >= 3:
        _fill(img, _hull(proj[lit & (depth > 0)] if (lit & (depth > 0)).sum() >= 3 else proj[lit]), ident.skin)
    _stroke(img, outline, OUTLINE, w)
    return outline


def _eye(img, ident: Identity, cam: _Camera, side: int, p: np.ndarray, w: int) -> tuple[float, float]:
    f = _Frame(ident, side * ident.eye_spacing, 0.02)
    openness = float(p[P.INDEX["eye_open_l" if side < 0 else "eye_open_r"]])
    gx, gy = float(p[P.INDEX["gaze_x"]]), float(p[P.INDEX["gaze_y"]])
    ew, eh = ident.eye_width, ident.eye_size
    x = (2 * _T - 1) * ew
    tilt = ident.eye_tilt * side * x / ew * eh * 0.4  # outer corners up for positive tilt
    bump = np.sin(np.pi * _T)
    centre2, _ = cam.project(f.to3d([0, 0]))
    if cam.facing(f.normal) < 0.05:
        return tuple(centre2[0])
    upper = np.stack([x, tilt + eh * min(openness, 1.3) * bump], 1)
    lower = np.stack([x, tilt - eh * 0.55 * min(openness, 1.0) * bump], 1)
    if openness > 0.12:
        sclera, _ = cam.project(f.to3d(np.concatenate([upper, lower[::-1]])))
        r = eh * 0.62
        ic = np.array([gx * ew * 0.45, -gy * eh * 0.35 + eh * 0.15 * (openness - 1)])
        iris, _ = cam.project(f.to3d(ic + _CIRCLE * [r * 0.85, r]))
        pupil, _ = cam.project(f.to3d(ic + _CIRCLE * r * 0.45))
        glint, _ = cam.project(f.to3d(ic + [-r * 0.3, r * 0.35] + _CIRCLE * r * 0.22))
        _inside(img, sclera, [(sclera, (250, 250, 250)), (iris, ident.eye_colour), (pupil, (20, 15, 20)),
                              (glint, (255, 255, 255))])
        _stroke(img, sclera, OUTLINE, max(1, w // 2))
    up2, _ = cam.project(f.to3d(upper))
    _stroke(img, up2, OUTLINE, w + 1, closed=False)
    if ident.lashes:
        tip, _ = cam.project(f.to3d([[side * ew * 1.25, tilt[-1 if side > 0 else 0] + eh * 0.45]]))
        end = up2[-1] if side > 0 else up2[0]
        _stroke(img, np.stack([end, tip[0]]), OUTLINE, w, closed=False)
    return tuple(centre2[0])


def _brow(img, ident: Identity, cam: _Camera, side: int, p: np.ndarray, w: int) -> tuple[float, float]:
    raise_ = float(p[P.INDEX["brow_l" if side < 0 else "brow_r"]])
    f = _Frame(ident, side * ident.eye_spacing, 0.33 + 0.09 * raise_)
    x = np.linspace(-1, 1, 5) * ident.eye_width * 1.05
    inner = -side * x / (ident.eye_width * 1.05)  # +1 at the inner end
    y = ident.brow_arch * (1 - (x / (ident.eye_width * 1.05)) ** 2) + 0.04 * raise_ * inner
    t = ident.brow_thickness
    shape = np.concatenate([np.stack([x, y + t / 2], 1), np.stack([x, y - t / 2], 1)[::-1]])
    pts, _ = cam.project(f.to3d(shape))
    if cam.facing(f.normal) > 0.05:
        _fill(img, pts, ident.brow_colour)
        _stroke(img, pts, OUTLINE, max(1, w // 2))
    c, _ = cam.project(f.to3d([0, 0]))
    return tuple(c[0])


def _nose(img, ident: Identity, cam: _Camera, w: int) -> tuple[float, float]:
    f = _Frame(ident, 0.0, -0.28)
    shapes = ([[-0.02, 0.0], [0.02, 0.0]], [[0.0, 0.12], [0.04, 0.0], [-0.02, -0.02]], [[0.03, 0.0], [-0.03, 0.0]])
    pts, _ = cam.project(f.to3d(np.array(shapes[ident.nose_style]) + [0, 0.0]))
    _stroke(img, pts, OUTLINE, w, closed=False)
    c, _ = cam.project(f.to3d([0, 0]))
    return tuple(c[0])


def _mouth(img, ident: Identity, cam: _Camera, p: np.ndarray, w: int) -> tuple[float, float]:
    f = _Frame(ident, 0.0, -0.52)
    opening = float(p[P.INDEX["mouth_open"]])
    smile = float(p[P.INDEX["smile"]])
    width = ident.mouth_width * (1 + 0.35 * float(p[P.INDEX["mouth_width"]]))
    x = (2 * _T - 1) * width
    curve = smile * 0.09 * ((x / width) ** 2 - 0.35)  # + smile lifts the corners (v is up)
    upper = np.stack([x, curve + 0.015 * opening * np.sin(np.pi * _T)], 1)
    lower = np.stack([x, curve - (0.02 + 0.3 * opening) * np.sin(np.pi * _T)], 1)
    if opening > 0.06:
        hole = np.concatenate([upper, lower[::-1]])
        pts, _ = cam.project(f.to3d(hole))
        _fill(img, pts, (110, 30, 45))
        if opening > 0.25:
            teeth = np.concatenate([upper, (upper - [0, 0.05])[::-1]])
            tp, _ = cam.project(f.to3d(teeth))
            _fill(img, tp, (250, 250, 245))
        tongue = np.array([0, curve.min() - 0.22 * opening]) + _CIRCLE * [width * 0.5, 0.08 * opening]
        tg, _ = cam.project(f.to3d(tongue))
        _fill(img, tg, _shade(ident.lip_colour, 1.1))
        _stroke(img, pts, OUTLINE, w)
    else:
        pts, _ = cam.project(f.to3d(upper))
        _stroke(img, pts, OUTLINE, w + 1, closed=False)
    c, _ = cam.project(f.to3d([0, 0]))
    return tuple(c[0])


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


def _front_hair(img, mask, ident: Identity, cam: _Camera, w: int) -> None:
    """The hair over the forehead: the hair silhouette above the (visible) fringe line."""
    hv = ident.hair_volume * (0.95 if ident.hair_style == "buzz" else 1.0)
    cap, _ = cam.project(_surface(ident, (hv, hv, hv), e_min=0.3))
    cap = _hull(cap)
    a = np.linspace(-1.3, 1.3, 17)
    edge, depth = cam.project(_ellipsoid(ident, a, _FRINGE[ident.hair_style](a), (1.02, 1.02, 1.02)))
    edge = edge[depth > 0.02]
    if len(edge) < 2:
        return
    size = img.shape[0]
    # Everything below the fringe line, the line's ends carried out to the image sides.
    below = np.concatenate([[[-size, edge[0, 1]]], edge, [[2 * size, edge[-1, 1]], [2 * size, 2 * size],
                                                          [-size, 2 * size]]])
    x0, y0 = np.maximum(np.floor(cap.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(cap.max(0)).astype(int) + 2, size)
    if x1 <= x0 or y1 <= y0:
        return
    # The layer carries the cap's outline; the alpha keeps the part above the fringe line, so the
    # outline shows only where the front hair meets the background.
    a_cap = np.zeros((y1 - y0, x1 - x0), np.uint8)
    a_below = np.zeros_like(a_cap)
    _fill(a_cap, cap - [x0, y0], 255)
    _stroke(a_cap, cap - [x0, y0], 255, w)
    _fill(a_below, below - [x0, y0], 255)
    alpha = (a_cap.astype(np.uint16) * (255 - a_below) + 127) // 255  # [h,w] in 0..255
    roi = img[y0:y1, x0:x1]
    layer = np.empty_like(roi)
    layer[:] = ident.hair
    _stroke(layer, cap - [x0, y0], OUTLINE, w)
    a3 = alpha[..., None]
    roi[:] = ((layer * a3 + roi * (255 - a3) + 127) // 255).astype(np.uint8)
    np.maximum(mask[y0:y1, x0:x1], alpha.astype(np.uint8), out=mask[y0:y1, x0:x1])
    _stroke(img, edge, OUTLINE, w, closed=False)
    shine, sd = cam.project(_ellipsoid(ident, np.linspace(-0.5, -0.1, 5), np.full(5, 1.05), (hv, hv, hv)))
    if sd.min() > 0:
        _stroke(img, shine, _shade(ident.hair, 1.6), w + 1, closed=False)


def _glasses(img, ident: Identity, cam: _Camera, eyes: list, w: int) -> None:
    r = ident.eye_width * 1.35
    shape = _CIRCLE * [r, r * 0.85] if ident.glasses_round else np.array(
        [[-r, -r * 0.7], [r, -r * 0.7], [r, r * 0.75], [-r, r * 0.75]])
    rims = []
    for side in (-1, 1):
        f = _Frame(ident, side * ident.eye_spacing, 0.02)
        if cam.facing(f.normal) > 0.05:
            pts, _ = cam.project(f.to3d(shape))
            _stroke(img, pts, (40, 40, 50), w + 1)
            rims.append(pts)
    if len(rims) == 2:
        bridge = np.stack([rims[0][np.argmax(rims[0][:, 0])], rims[1][np.argmin(rims[1][:, 0])]])
        _stroke(img, bridge, (40, 40, 50), w + 1, closed=False)


def _blush(img, ident: Identity, cam: _Camera) -> None:
    for side in (-1, 1):
        f = _Frame(ident, side * (ident.eye_spacing + 0.08), -0.3)
        if cam.facing(f.normal) > 0.2:
            pts, _ = cam.project(f.to3d(_CIRCLE * [0.11, 0.05]))
            _fill(img, pts, _shade((255, 150, 150), 1.0))


# ---------------------------------------------------------------------------------------------

def render_head(ident: Identity, params: np.ndarray, size: int) -> HeadRender:
    """Draw ``ident`` with the expression/pose ``params`` (a puppet.params vector) at size x size."""
    if size < 16:
        raise ValueError(f"head size {size} is too small (16 px or more)")
    p = P.clip(params)
    cam = _Camera(ident, p, size)
    w = max(1, round(size / 110))
    img = _background(ident.background[0], ident.background[1], size).copy()
    mask = np.zeros((size, size), np.uint8)
    _body(img, mask, ident, cam, w)
    _back_hair(img, mask, ident, cam, w)
    _ears(img, mask, ident, cam, w)
    _face(img, mask, ident, cam, w)
    if ident.blush:
        _blush(img, ident, cam)
    points = {"eye_l": _eye(img, ident, cam, -1, p, w), "eye_r": _eye(img, ident, cam, 1, p, w),
              "brow_l": _brow(img, ident, cam, -1, p, w), "brow_r": _brow(img, ident, cam, 1, p, w),
              "nose": _nose(img, ident, cam, w), "mouth": _mouth(img, ident, cam, p, w)}
    _front_hair(img, mask, ident, cam, w)
    if ident.glasses:
        _glasses(img, ident, cam, [points["eye_l"], points["eye_r"]], w)
    points = {k: (float(v[0]), float(v[1])) for k, v in points.items()}
    return HeadRender(rgb=img, mask=mask.astype(np.float32) * (1 / 255), points=points)
