"""The face's features: eyes, brows, nose and mouth in every drawing style.

Each draws itself in a frame laid on the face surface and returns its centre in pixels. Every
style reads the same expression parameters: an eye of any style narrows with ``eye_open`` and
shows its style's shut glyph when shut, every mouth opens with ``mouth_open``, bends with
``smile`` and widens with ``mouth_width``, every brow moves with ``brow``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from puppet import params as P

from .draw import CIRCLE, T, Pen, fill, inside, shade, stroke
from .geometry import Camera, Frame
from .identity import Identity

SHUT = 0.12  # openness at or below which an eye is drawn shut
WHITE = (250, 250, 250)
PUPIL = (20, 15, 20)
MOUTH_INSIDE = (110, 30, 45)
TEETH = (250, 250, 245)
# Half-width of each eye style's shut glyph, in eye widths.
SHUT_WIDTH = {"classic": 1.0, "dot": 0.55, "oval": 0.7, "anime": 1.0, "emoji": 0.9, "round": 0.9}

Point = tuple[float, float]
_BUMP = np.sin(np.pi * T)  # 0 at a curve's ends, 1 in its middle


def eye(img, ident: Identity, cam: Camera, side: int, p: np.ndarray, pen: Pen) -> Point:
    f = Frame(ident, side * ident.eye_spacing, 0.02)
    openness = float(p[P.INDEX["eye_open_l" if side < 0 else "eye_open_r"]])
    centre = tuple(cam.on_face(f, [0, 0])[0])
    if cam.facing(f.normal) < 0.05:
        return centre
    style = ident.style
    gaze = float(p[P.INDEX["gaze_x"]]), float(p[P.INDEX["gaze_y"]])
    if style.eyes == "classic" and (style.shut == "line" or openness > SHUT):
        _classic_eye(img, ident, cam, f, side, openness, gaze, pen)
    elif openness <= SHUT:
        _shut_eye(img, ident, cam, f, pen)
    else:
        _EYES[style.eyes](img, ident, cam, f, side, openness, gaze, pen)
    return centre


def _lids(ident: Identity, side: int, openness: float, width: float, height: float):
    """Upper and lower lid curves [9,2] of an almond eye, outer corners raised by the tilt."""
    x = (2 * T - 1) * width
    tilt = ident.eye_tilt * side * x / width * height * 0.4
    upper = np.stack([x, tilt + height * min(openness, 1.3) * _BUMP], 1)
    lower = np.stack([x, tilt - height * 0.55 * min(openness, 1.0) * _BUMP], 1)
    return upper, lower, tilt


def _classic_eye(img, ident, cam, f, side, openness, gaze, pen) -> None:
    gx, gy = gaze
    ew, eh = ident.eye_width, ident.eye_size
    upper, lower, tilt = _lids(ident, side, openness, ew, eh)
    if openness > SHUT:
        sclera = cam.on_face(f, np.concatenate([upper, lower[::-1]]))
        r = eh * 0.62
        ic = np.array([gx * ew * 0.45, -gy * eh * 0.35 + eh * 0.15 * (openness - 1)])
        iris = cam.on_face(f, ic + CIRCLE * [r * 0.85, r])
        pupil = cam.on_face(f, ic + CIRCLE * r * 0.45)
        glint = cam.on_face(f, ic + [-r * 0.3, r * 0.35] + CIRCLE * r * 0.22)
        inside(img, sclera, [(sclera, WHITE), (iris, ident.eye_colour), (pupil, PUPIL), (glint, (255, 255, 255))])
        stroke(img, sclera, pen.ink, max(1, pen.line // 2))
    up2 = cam.on_face(f, upper)
    stroke(img, up2, pen.ink, pen.line + 1, closed=False)
    if ident.lashes:
        tip = cam.on_face(f, [[side * ew * 1.25, tilt[-1 if side > 0 else 0] + eh * 0.45]])
        end = up2[-1] if side > 0 else up2[0]
        stroke(img, np.stack([end, tip[0]]), pen.ink, pen.line, closed=False)


def _shut_eye(img, ident, cam, f, pen) -> None:
    """The style's glyph for a shut eye: a lid line, a "^" arc, or a lower arc with lashes."""
    ew, eh = ident.eye_width * SHUT_WIDTH[ident.style.eyes], ident.eye_size
    x = (2 * T - 1) * ew
    kind = ident.style.shut
    lift = {"line": -0.1, "arc": 0.5, "lashes": -0.35}[kind]
    curve = cam.on_face(f, np.stack([x, eh * lift * _BUMP], 1))
    stroke(img, curve, pen.ink, pen.line + 1, closed=False)
    if kind == "lashes":
        for i in (2, 4, 6):
            tip = cam.on_face(f, [[x[i] * 1.25, eh * lift * _BUMP[i] - eh * 0.3]])
            stroke(img, np.stack([curve[i], tip[0]]), pen.ink, pen.line, closed=False)


def _squashed(centre, rx: float, ry: float, openness: float) -> np.ndarray:
    """An ellipse that flattens towards a line as the eye shuts (and grows a little when wide)."""
    return np.asarray(centre) + CIRCLE * [rx, ry * min(openness, 1.3)]


def _dot_eye(img, ident, cam, f, side, openness, gaze, pen) -> None:
    ew, eh = ident.eye_width, ident.eye_size
    c = [gaze[0] * ew * 0.25, -gaze[1] * eh * 0.2]
    fill(img, cam.on_face(f, _squashed(c, ew * 0.32, eh * 0.5, openness)), shade(ident.eye_colour, 0.45))


def _emoji_eye(img, ident, cam, f, side, openness, gaze, pen) -> None:
    r = max(ident.eye_width * 0.65, ident.eye_size * 0.8)
    ball = cam.on_face(f, _squashed([0, 0], r, r, openness))
    pc = [gaze[0] * r * 0.42, -gaze[1] * r * 0.42 * min(openness, 1.3)]
    fill(img, ball, WHITE)
    fill(img, cam.on_face(f, _squashed(pc, r * 0.45, r * 0.45, openness)), PUPIL)
    stroke(img, ball, pen.ink, pen.line)


def _round_eye(img, ident, cam, f, side, openness, gaze, pen) -> None:
    """A round white eye that keeps its shape while the upper lid comes down over it, cutting it
    with a straight lid line (as DiceBear's adventurer draws a tired or sly eye)."""
    r = max(ident.eye_width * 0.6, ident.eye_size * 0.75) * (1 + 0.3 * max(openness - 1, 0))
    lid = r * (2 * min(openness, 1.0) - 1)
    a = np.arcsin(np.clip(lid / r, -1, 1))
    theta = np.linspace(np.pi - a, 2 * np.pi + a, 15)  # the circle below the lid, closed by the lid
    opening = cam.on_face(f, np.stack([np.cos(theta), np.sin(theta)], 1) * r)
    pc = np.array([gaze[0] * r * 0.45, -gaze[1] * r * 0.4 - r * 0.1])
    pupil = cam.on_face(f, pc + CIRCLE * r * 0.38)
    glint = cam.on_face(f, pc + [-r * 0.15, r * 0.15] + CIRCLE * r * 0.13)
    inside(img, opening, [(opening, WHITE), (pupil, PUPIL), (glint, (255, 255, 255))])
    stroke(img, opening, pen.ink, pen.line)
    if openness < 0.95:
        half = r * np.cos(a) + r * 0.2
        stroke(img, cam.on_face(f, [[-half, lid], [half, lid]]), pen.ink, pen.line + 1, closed=False)


def _oval_eye(img, ident, cam, f, side, openness, gaze, pen) -> None:
    """A tall dark oval with a highlight; the upper lid comes down over it as the eye shuts."""
    ew, eh = ident.eye_width, ident.eye_size
    rx, ry = ew * 0.42, eh * 0.85 * (1 + 0.6 * max(openness - 1, 0))
    c = np.array([gaze[0] * ew * 0.2, -gaze[1] * eh * 0.15])
    lid = -ry + 2 * ry * min(openness, 1.0)
    box = c + [[-2 * rx, lid], [2 * rx, lid], [2 * rx, -2 * ry], [-2 * rx, -2 * ry]]
    oval = cam.on_face(f, c + CIRCLE * [rx, ry])
    glint = cam.on_face(f, c + [-rx * 0.35, ry * 0.45] + CIRCLE * rx * 0.32)
    inside(img, cam.on_face(f, box), [(oval, shade(ident.eye_colour, 0.5)), (glint, (255, 255, 255))])
    if openness < 0.95:
        half = rx * np.sqrt(max(1 - (lid / ry) ** 2, 0.0)) + rx * 0.25
        stroke(img, cam.on_face(f, c + [[-half, lid], [half, lid]]), pen.ink, pen.line + 1, closed=False)


def _anime_eye(img, ident, cam, f, side, openness, gaze, pen) -> None:
    """A large eye whose iris stays put while the lids close over it."""
    ew, eh = ident.eye_width * 1.1, ident.eye_size * 1.25
    upper, lower, tilt = _lids(ident, side, openness, ew, eh)
    sclera = cam.on_face(f, np.concatenate([upper, lower[::-1]]))
    rx, ry = ew * 0.5, eh * 0.72
    ic = np.array([gaze[0] * ew * 0.35, eh * 0.2 - gaze[1] * eh * 0.2])
    iris = cam.on_face(f, ic + CIRCLE * [rx, ry])
    top = cam.on_face(f, ic + [0, ry * 0.35] + CIRCLE * [rx * 0.85, ry * 0.6])
    pupil = cam.on_face(f, ic + CIRCLE * [rx * 0.45, ry * 0.5])
    glints = [cam.on_face(f, ic + [-rx * 0.35, ry * 0.4] + CIRCLE * rx * 0.3),
              cam.on_face(f, ic + [rx * 0.35, -ry * 0.45] + CIRCLE * rx * 0.15)]
    inside(img, sclera, [(sclera, WHITE), (iris, ident.eye_colour), (top, shade(ident.eye_colour, 0.6)),
                         (pupil, PUPIL)] + [(g, (255, 255, 255)) for g in glints])
    up2 = cam.on_face(f, upper)
    stroke(img, up2, pen.ink, pen.line + 1, closed=False)
    flick = cam.on_face(f, [[side * ew * 1.12, tilt[-1 if side > 0 else 0] + eh * 0.3]])
    stroke(img, np.stack([up2[-1] if side > 0 else up2[0], flick[0]]), pen.ink, pen.line + 1, closed=False)


_EYES = {"dot": _dot_eye, "emoji": _emoji_eye, "round": _round_eye, "oval": _oval_eye, "anime": _anime_eye}


def brow(img, ident: Identity, cam: Camera, side: int, p: np.ndarray, pen: Pen) -> Point:
    raise_ = float(p[P.INDEX["brow_l" if side < 0 else "brow_r"]])
    f = Frame(ident, side * ident.eye_spacing, 0.33 + 0.09 * raise_)
    kind = ident.style.brows
    x = np.linspace(-1, 1, 5) * ident.eye_width * 1.05
    half = ident.eye_width * 1.05
    if kind == "short":
        x, half = x * 0.6, half * 0.6
    inner = -side * x / half  # +1 at the inner end
    y = ident.brow_arch * (1 - (x / half) ** 2) + 0.04 * raise_ * inner
    if cam.facing(f.normal) > 0.05:
        if kind == "line":
            stroke(img, cam.on_face(f, np.stack([x, y], 1)), ident.brow_colour, pen.line + 1, closed=False)
        else:
            t = ident.brow_thickness * (1.3 if kind == "short" else 1.0)
            pts = cam.on_face(f, np.concatenate([np.stack([x, y + t / 2], 1), np.stack([x, y - t / 2], 1)[::-1]]))
            fill(img, pts, ident.brow_colour)
            if kind == "classic":
                stroke(img, pts, pen.ink, max(1, pen.line // 2))
    return tuple(cam.on_face(f, [0, 0])[0])


_NOSES = ([[-0.02, 0.0], [0.02, 0.0]], [[0.0, 0.12], [0.04, 0.0], [-0.02, -0.02]], [[0.03, 0.0], [-0.03, 0.0]])


def nose(img, ident: Identity, cam: Camera, pen: Pen) -> Point:
    f = Frame(ident, 0.0, -0.28)
    if ident.style.nose:
        stroke(img, cam.on_face(f, np.array(_NOSES[ident.nose_style])), pen.ink, pen.line, closed=False)
    return tuple(cam.on_face(f, [0, 0])[0])


def mouth(img, ident: Identity, cam: Camera, p: np.ndarray, pen: Pen) -> Point:
    f = Frame(ident, 0.0, -0.52)
    opening = float(p[P.INDEX["mouth_open"]])
    smile = float(p[P.INDEX["smile"]])
    width = ident.mouth_width * (1 + 0.35 * float(p[P.INDEX["mouth_width"]]))
    kind = ident.style.mouth
    if kind == "o":
        width *= 0.6
    x = (2 * T - 1) * width
    curve = smile * 0.09 * ((x / width) ** 2 - 0.35)  # + smile lifts the corners (v is up)
    upper = np.stack([x, curve + 0.015 * opening * _BUMP], 1)
    if opening > 0.06:
        _OPEN_MOUTHS[kind](img, ident, cam, f, _Mouth(opening, smile, width, curve, upper), pen)
    else:
        stroke(img, cam.on_face(f, upper), pen.ink, pen.line + 1, closed=False)
    return tuple(cam.on_face(f, [0, 0])[0])


class _Mouth(NamedTuple):
    opening: float
    smile: float
    width: float
    curve: np.ndarray  # [9] the closed lips' line
    upper: np.ndarray  # [9,2] the upper lip's edge


def _lower(m: _Mouth, depth: float) -> np.ndarray:
    return np.stack([m.upper[:, 0], m.curve - depth * _BUMP], 1)


def _tongue(m: _Mouth, bottom: float, height: float) -> np.ndarray:
    return np.array([0, bottom]) + CIRCLE * [m.width * 0.5, height]


def _classic_mouth(img, ident, cam, f, m: _Mouth, pen) -> None:
    lower = _lower(m, 0.02 + 0.3 * m.opening)
    hole = cam.on_face(f, np.concatenate([m.upper, lower[::-1]]))
    fill(img, hole, MOUTH_INSIDE)
    if m.opening > 0.25:
        fill(img, cam.on_face(f, np.concatenate([m.upper, (m.upper - [0, 0.05])[::-1]])), TEETH)
    fill(img, cam.on_face(f, _tongue(m, m.curve.min() - 0.22 * m.opening, 0.08 * m.opening)),
         shade(ident.lip_colour, 1.1))
    stroke(img, hole, pen.ink, pen.line)


def _inner_mouth(img, ident, cam, f, m: _Mouth, outline: np.ndarray, teeth: list, tongue_at: float,
                 pen: Pen, line: int) -> None:
    """A mouth opening with teeth bands and a tongue, all kept inside the opening."""
    hole = cam.on_face(f, outline)
    tongue = cam.on_face(f, _tongue(m, tongue_at, 0.1 * m.opening + 0.02))
    inside(img, hole, [(hole, MOUTH_INSIDE)] + [(cam.on_face(f, t), TEETH) for t in teeth]
           + [(tongue, shade(ident.lip_colour, 1.15))])
    stroke(img, hole, pen.ink, line)


def _line_mouth(img, ident, cam, f, m: _Mouth, pen) -> None:
    """A plain dark opening: no teeth, drawn with the closed mouth's heavier line."""
    lower = _lower(m, 0.02 + 0.28 * m.opening)
    outline = np.concatenate([m.upper, lower[::-1]])
    _inner_mouth(img, ident, cam, f, m, outline, [], m.curve.min() - 0.24 * m.opening, pen, pen.line + 1)


def _toothy_mouth(img, ident, cam, f, m: _Mouth, pen) -> None:
    lower = _lower(m, 0.03 + 0.34 * m.opening)
    teeth = [np.concatenate([m.upper, (m.upper - [0, 0.06])[::-1]]),
             np.concatenate([lower + [0, 0.05], lower[::-1]])]
    outline = np.concatenate([m.upper, lower[::-1]])
    _inner_mouth(img, ident, cam, f, m, outline, teeth, m.curve.min() - 0.26 * m.opening, pen, pen.line)


def _d_mouth(img, ident, cam, f, m: _Mouth, pen) -> None:
    """A "D" on its back: a straight upper edge between the corners, a round belly below."""
    x = m.upper[:, 0]
    top = m.curve[0] + 0.015 * m.opening
    depth = 0.05 + 0.36 * m.opening
    upper = np.stack([x, np.full_like(x, top)], 1)
    lower = np.stack([x, top - depth * _BUMP ** 0.6], 1)
    teeth = [np.concatenate([upper, (upper - [0, 0.055])[::-1]])]
    _inner_mouth(img, ident, cam, f, m, np.concatenate([upper, lower[::-1]]), teeth, top - depth, pen, pen.line)


def _o_mouth(img, ident, cam, f, m: _Mouth, pen) -> None:
    """A small round opening whose corners still lift with a smile."""
    rx, ry = m.width * (0.75 + 0.25 * m.opening), 0.02 + 0.14 * m.opening
    ring = CIRCLE * [rx, ry] + [0, m.curve.mean() - ry * 0.8]
    ring[:, 1] += m.smile * 0.05 * (CIRCLE[:, 0] ** 2 - 0.5)
    hole = cam.on_face(f, ring)
    fill(img, hole, MOUTH_INSIDE)
    stroke(img, hole, pen.ink, pen.line)


_OPEN_MOUTHS = {"classic": _classic_mouth, "line": _line_mouth, "toothy": _toothy_mouth, "D": _d_mouth,
                "o": _o_mouth}
