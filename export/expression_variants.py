"""Shut eyes, winks and an open mouth drawn into a character's rest drawing, for a set that has none.

A warp-head character shows only its own drawings: its learnt residual paints next to nothing, so a
character made from one image turned and nodded but neither blinked nor talked. Where the set lacks
them, this draws those expressions into the drawing nearest rest, in the drawing's own colours:
each eye's marks painted over with the skin around them and a lid's curve drawn in their darkest
ink; the mouth's marks painted over and an open mouth drawn in their place, or, where the mouth is
drawn open already (a grin with its dark inside), that mouth drawn taller. The variants then join
the character's images with the expression each shows, and the reference choice blinks and talks
with them as with an artist's sheet.

Where the eyes and the mouth are comes from face tracking's mesh, which finds most cartoon faces
but places their features roughly. The marks drawn there refine it: what differs from the skin,
in connected strokes that meet the mesh's eye or lips and end inside the patch. Where only one eye
is found so (a face in three-quarter view, where the mesh misses the far eye by its own width),
the other is its twin: the stroke beside it nearest its size, or, where the other eye touches a
stroke that runs on (a glasses' frame), the place that best matches the found eye's mirror image.
Where neither eye is found so, an eye drawn as one stroke with the brow over it is found by its
white (DiceBear's adventurer style), and eyes that are one stroke with a glasses' frame that joins
them both are found inside its lenses (what of the stroke lies within the skin each lens shows
around its eye); the frame is then kept as drawn when the eyes shut.
A drawing whose marks do not look like two eyes side by side above a mouth gets no eyes drawn (a
warning says so): a lid drawn across a cheek would be worse than an eye that stays open. Of the
nine rest drawings of ``tests/data/drawn``, eight get their eyes drawn (not Sora, whose glasses'
bar is drawn over her lids) and all nine their mouths; of 16 held-out procedural identities,
all sixteen (two of them inside thick glasses' rims) and fifteen; both adventurer
drawings in ``assets/sources`` whose face the mesh finds get both.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from puppet import params as P

# Colour distance (0-255 RGB) from the skin beyond which a pixel is a drawn mark.
MARK_CONTRAST = 60.0
# Sizes (width, height), as fractions of the face's width (the mesh's face oval), beyond which a
# connected stroke is not one eye or one mouth: a glasses' frame, hair, a brow joined to its eye.
EYE_SIZE, MOUTH_SIZE = (0.42, 0.27), (0.6, 0.3)
# The largest a glasses' lens may be (width, height), as a fraction of the face's width.
LENS_SIZE = (0.5, 0.4)
# Where an eye is found by its mirror image: the least match (normalised correlation of marks)
# and the most of what is found there that may lie beyond the mirror image.
MIRROR_MATCH, MIRROR_BEYOND = 0.4, 0.2
# The mesh's points whose colour is the skin's (their median): cheeks, below the eyes and beside
# the nose, and the forehead, the nose's bridge and the chin, since a blush may cover the cheeks (a
# held-out identity's skin read pink from its cheeks alone, and its shut eyes were painted pink).
SKIN_POINTS = (50, 280, 205, 425, 117, 346, 151, 108, 337, 199, 175, 197)


def _marks(rgb: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """bool [H,W]: the pixels of uint8 [H,W,3] ``rgb`` that are drawn marks, not ``skin``."""
    return np.linalg.norm(rgb.astype(np.float32) - skin, axis=-1) > MARK_CONTRAST


def _ends_inside(stat: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether a connected stroke (a row of connectedComponentsWithStats' stats) ends inside the
    patch of ``shape``: one that runs on beyond it is hair, the face's outline or a glasses' frame."""
    sx, sy, sw, sh = stat[:4]
    return sx > 0 and sy > 0 and sx + sw < shape[1] and sy + sh < shape[0]


class FeaturesNotFound(ValueError):
    """The drawing's eyes or mouth could not be told apart from the rest of it."""


@dataclass(frozen=True)
class FaceMarks:
    """bool [H,W] masks of what is drawn of each eye (on screen left and right) and of the mouth;
    ``face_width`` in pixels; ``skin`` its RGB."""

    eye_l: np.ndarray | None
    eye_r: np.ndarray | None
    mouth: np.ndarray | None
    face_width: float
    skin: np.ndarray
    frame: np.ndarray | None = None  # a glasses' frame that both eyes touch, kept as drawn


def _mesh_indices() -> tuple[list[int], list[int], list[int], list[int]]:
    """(on-screen left eye, on-screen right eye, lips, face oval): the mesh's points of each."""
    from mediapipe.python.solutions import face_mesh_connections as fm

    def points(connections) -> list[int]:
        return sorted({i for pair in connections for i in pair})

    # the mesh's "left eye" is the face's own left: on screen, the right one
    return (points(fm.FACEMESH_RIGHT_EYE), points(fm.FACEMESH_LEFT_EYE), points(fm.FACEMESH_LIPS),
            points(fm.FACEMESH_FACE_OVAL))


def _landmarks(rgb: np.ndarray) -> np.ndarray | None:
    """[478,2] mesh points in pixels, or None. A border of white around the drawing: without one
    the mesh found no face in three of the nine rest drawings of ``tests/data/drawn``, drawn up to
    the picture's edge."""
    from puppet.tracking.landmarks import FaceMesh

    pad = max(rgb.shape[:2]) // 3
    padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    mesh = FaceMesh(static=True, max_faces=1, min_detection=0.1)
    try:
        faces = mesh(padded)
    finally:
        mesh.close()
    return faces[0][:, :2] - pad if faces else None


def _box(points: np.ndarray) -> tuple[float, float, float, float]:
    return float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max())


def _strokes_meeting(marks: np.ndarray, near: tuple[float, float, float, float], largest: tuple[float, float]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(strokes of ``marks`` that meet the box ``near`` and end inside the patch, no larger than
    one feature; those that meet it but are too large)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(marks.astype(np.uint8), connectivity=8)
    keep, large = np.zeros_like(marks), np.zeros_like(marks)
    x0, y0, x1, y1 = near
    for i in range(1, count):
        sx, sy, sw, sh, _ = stats[i]
        if sx > x1 or sx + sw < x0 or sy > y1 or sy + sh < y0:
            continue
        if not _ends_inside(stats[i], marks.shape):
            continue
        if sw > largest[0] or sh > largest[1]:
            large |= labels == i
        else:
            keep |= labels == i
    return keep, large


def _patch(rgb: np.ndarray, points: np.ndarray, least: float = 0.0
           ) -> tuple[tuple[int, int, int, int], tuple[float, float, float, float]]:
    """((x0, y0, x1, y1) of the patch around the mesh's ``points`` of a feature, at least ``least``
    pixels each way from its centre, in the picture; the box near the points, in the patch). The
    patch is wide enough that a feature the mesh placed roughly still ends inside it."""
    x0, y0, x1, y1 = _box(points)
    w = x1 - x0
    h = max(y1 - y0, 0.3 * w)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = max(2 * w, least), max(3 * h, least)
    px0, px1 = int(max(0, cx - rx)), int(min(rgb.shape[1], cx + rx))
    py0, py1 = int(max(0, cy - ry)), int(min(rgb.shape[0], cy + ry))
    near = (cx - 0.65 * w - px0, cy - 0.65 * h - py0, cx + 0.65 * w - px0, cy + 0.65 * h - py0)
    return (px0, py0, px1, py1), near


def _feature(rgb: np.ndarray, points: np.ndarray, skin: np.ndarray, largest: tuple[float, float]) -> np.ndarray | None:
    """bool [H,W]: the marks drawn where the mesh's ``points`` put a feature no larger than
    ``largest`` (width, height in pixels), or None."""
    (px0, py0, px1, py1), near = _patch(rgb, points)
    marks = _marks(rgb[py0:py1, px0:px1], skin)
    keep, large = _strokes_meeting(marks, near, largest)
    count, labels = cv2.connectedComponents(large.astype(np.uint8), connectivity=8)
    for i in range(1, count):  # a brow joined to its eye by lashes: cut at the narrowest row above the eye
        stroke = labels == i
        rows = stroke.sum(1)
        top, bottom = np.flatnonzero(rows)[[0, -1]]
        lo, hi = top + max(2, (bottom - top) // 6), top + int((bottom - top) * 0.6)
        if hi <= lo:
            continue
        lower = stroke.copy()
        lower[: lo + int(np.argmin(rows[lo:hi])) + 1] = False
        keep |= _strokes_meeting(lower, near, largest)[0]
    if not keep.any():
        return None
    out = np.zeros(rgb.shape[:2], bool)
    out[py0:py1, px0:px1] = keep
    return _filled(out)


def _by_its_white(rgb: np.ndarray, points: np.ndarray, skin: np.ndarray, face_width: float) -> np.ndarray | None:
    """bool [H,W]: an eye whose outline is one stroke with a brow drawn over it (DiceBear's
    adventurer style), found by its white: the largest stroke lighter than the skin that meets the
    mesh's eye, with what it holds (the pupil) and its outline below the brow; or None. The brow's
    edge is left out, so that painting the eye over keeps it."""
    # wider than _feature's patch: the mesh puts such an eye's box in its upper part, under the brow
    (px0, py0, px1, py1), near = _patch(rgb, points, 0.3 * face_width)
    patch = rgb[py0:py1, px0:px1]
    light = _marks(patch, skin) & (patch.astype(np.float32).sum(-1) > skin.sum() + MARK_CONTRAST)
    whites, _ = _strokes_meeting(light, near, (EYE_SIZE[0] * face_width, EYE_SIZE[1] * face_width))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(whites.astype(np.uint8), connectivity=8)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[largest, cv2.CC_STAT_WIDTH] < 0.06 * face_width:  # a glint, not an eye's white
        return None
    ys, xs = np.nonzero(labels == largest)
    white = _hull(np.stack([xs + px0, ys + py0], -1), rgb.shape[:2])
    k = 2 * _line_width(face_width) + 1
    outline = cv2.dilate(white.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    eye = white | (outline & _marks(rgb, skin))
    eye[:int(ys.min()) + py0] = False  # above the white: the brow
    return eye


def _hull(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """bool ``shape``: the convex hull of ``points`` [n,2] (x, y in pixels), filled."""
    out = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(out, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return out > 0


def _filled(mask: np.ndarray) -> np.ndarray:
    """The mask with what it encloses: an iris near the skin's colour, an eye's white in a face
    drawn white, all of them part of the eye (left out, an iris stayed as a smudge over the lid)."""
    x0, y0, x1, y1 = _extent(mask)
    box = np.pad(mask[y0:y1 + 1, x0:x1 + 1], 1).astype(np.uint8)
    outside = box.copy()
    cv2.floodFill(outside, None, (0, 0), 1)  # every pixel the border reaches around the marks
    out = mask.copy()
    out[y0:y1 + 1, x0:x1 + 1] |= (outside == 0)[1:-1, 1:-1]
    return out


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _centre(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def over_white(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """uint8 [H,W,3] RGB with its alpha [H,W] (or None) -> the drawing over white, as the
    functions here take it."""
    if alpha is None:
        return rgb
    a = alpha[..., None] / 255.0
    return (rgb * a + 255 * (1 - a) + 0.5).astype(np.uint8)


def find_marks(rgb: np.ndarray) -> FaceMarks:
    """The drawing's eyes and mouth (uint8 [H,W,3] RGB, drawn over white where transparent). A
    feature whose marks are not where a face has it is None; FeaturesNotFound when no face is."""
    points = _landmarks(rgb)
    if points is None:
        raise FeaturesNotFound("face tracking finds no face in it")
    left, right, lips, oval = _mesh_indices()
    x0, _, x1, _ = _box(points[oval])
    face_width = x1 - x0
    inside = points[list(SKIN_POINTS)].round().astype(int)
    inside[:, 0] = inside[:, 0].clip(0, rgb.shape[1] - 1)
    inside[:, 1] = inside[:, 1].clip(0, rgb.shape[0] - 1)
    skin = np.median(rgb[inside[:, 1], inside[:, 0]].astype(np.float32), 0)
    eye_l, eye_r = (_feature(rgb, points[i], skin, (EYE_SIZE[0] * face_width, EYE_SIZE[1] * face_width))
                    for i in (left, right))
    mouth = _feature(rgb, points[lips], skin, (MOUTH_SIZE[0] * face_width, MOUTH_SIZE[1] * face_width))
    if eye_l is None or eye_r is None or not _eyes_alike(eye_l, eye_r, face_width):
        eye_l, eye_r = _pair(rgb, [e for e in (eye_l, eye_r) if e is not None], skin, face_width)
    frame = None
    if eye_l is None:
        eye_l, eye_r = (_by_its_white(rgb, points[i], skin, face_width) for i in (left, right))
        if eye_l is None or eye_r is None or not _eyes_alike(eye_l, eye_r, face_width):
            eye_l, eye_r, frame = _in_lenses(rgb, points[left], points[right], skin, face_width)
    if mouth is not None and not _mouth_below(mouth, [e for e in (eye_l, eye_r) if e is not None], face_width):
        mouth = None
    return FaceMarks(eye_l, eye_r, mouth, face_width, skin, frame)


def _in_lenses(rgb: np.ndarray, points_l: np.ndarray, points_r: np.ndarray, skin: np.ndarray, face_width: float
               ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(left eye, right eye, frame): eyes that are one stroke with a glasses' frame, which joins
    them both. Each eye is what of the stroke lies inside its lens: within the hull of the skin
    the lens shows around the eye and of the mesh's points of the eye (an iris that fills its lens
    leaves only a crescent of skin), with the thick parts of it not drawn in its ink that meet
    that (the iris, up to the rim). The frame is the rest of the stroke. (None, None, None) where
    no one stroke meets both of the mesh's eyes, or a lens is no eye's size, or the eyes are not
    alike."""
    nothing = None, None, None
    marks = _marks(rgb, skin)
    _, labels = cv2.connectedComponents(marks.astype(np.uint8), connectivity=8)

    def stroke_at(points: np.ndarray) -> int:  # the stroke that most of the mesh's eye lies on
        x0, y0, x1, y1 = (int(round(v)) for v in _box(points))
        found = labels[max(0, y0):y1 + 1, max(0, x0):x1 + 1]
        counts = np.bincount(found[found > 0])
        return int(np.argmax(counts)) if len(counts) else 0

    label = stroke_at(points_l)
    if label == 0 or stroke_at(points_r) != label:
        return nothing
    stroke = labels == label
    holes = _filled(stroke) & ~stroke
    count, pieces, _, centres = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    # the stroke's thick parts not in its ink (an iris), which may reach beyond that hull to the rim
    ink = np.array(_ink(rgb, stroke), np.float32)
    k = 2 * _line_width(face_width) + 1
    coloured = (stroke & (np.linalg.norm(rgb.astype(np.float32) - ink, axis=-1) > MARK_CONTRAST)).astype(np.uint8)
    coloured = cv2.morphologyEx(coloured, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    _, blobs = cv2.connectedComponents(coloured, connectivity=8)
    eyes = []
    for points in (points_l, points_r):
        cx, cy = points.mean(0)
        near = [i for i in range(1, count)
                if abs(centres[i, 0] - cx) < 0.2 * face_width and abs(centres[i, 1] - cy) < 0.2 * face_width]
        if not near:
            return nothing
        ys, xs = np.nonzero(np.isin(pieces, near))
        lens = _hull(np.concatenate([np.stack([xs, ys], -1), points]), stroke.shape)
        x0, y0, x1, y1 = _extent(lens)
        if x1 - x0 + 1 > LENS_SIZE[0] * face_width or y1 - y0 + 1 > LENS_SIZE[1] * face_width:
            return nothing
        eye = stroke & lens
        if not eye.any():
            return nothing
        inside = np.unique(blobs[eye])
        eyes.append(_filled(eye | np.isin(blobs, inside[inside > 0])))
    if not _eyes_alike(eyes[0], eyes[1], face_width):
        return nothing
    return eyes[0], eyes[1], stroke & ~eyes[0] & ~eyes[1]


def _pair(rgb: np.ndarray, found: list[np.ndarray], skin: np.ndarray, face_width: float
          ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(left, right) eyes from one eye found where the mesh put it and its twin: the mesh places a
    face drawn in three-quarter view, or with glasses, roughly, and often finds one eye and
    misses the other by its own width. Drawn eyes are alike: the twin is the stroke beside the
    eye, at about its height, nearest its size. (None, None) when no eye has one."""
    for eye in found:
        for find in (_twin, _mirror_image):
            twin = find(rgb, eye, skin, face_width)
            if twin is not None:
                pair = sorted((eye, twin), key=lambda m: _centre(m)[0])
                if _eyes_alike(*pair, face_width):
                    return pair[0], pair[1]
    return None, None


def _beside(shape: tuple[int, ...], box: tuple[float, float, float, float], face_width: float, reach: float
            ) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of where an eye's twin may be, in a picture of ``shape``: the row of the
    eye's ``box``, ``reach`` pixels above and below it, most of the face's width to each side."""
    x0, y0, x1, y1 = box
    return (int(max(0, x0 - 0.9 * face_width)), int(max(0, y0 - reach)),
            int(min(shape[1], x1 + 0.9 * face_width)), int(min(shape[0], y1 + reach)))


def _twin(rgb: np.ndarray, eye: np.ndarray, skin: np.ndarray, face_width: float) -> np.ndarray | None:
    x0, y0, x1, y1 = _extent(eye)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    px0, py0, px1, py1 = _beside(rgb.shape, (x0, y0, x1, y1), face_width, max(h, 0.2 * face_width))
    marks = _marks(rgb[py0:py1, px0:px1], skin)
    marks &= ~eye[py0:py1, px0:px1]
    count, labels, stats, centres = cv2.connectedComponentsWithStats(marks.astype(np.uint8), connectivity=8)
    best, score = None, np.inf
    for i in range(1, count):
        sx, sy, sw, sh, _ = stats[i]
        if not _ends_inside(stats[i], marks.shape):
            continue
        if not (0.5 <= sw / w <= 2 and 0.5 <= sh / h <= 2) or sx + px0 <= x1 and sx + sw + px0 > x0:
            continue  # not an eye's size, or above or below this one
        cx, cy = centres[i] + (px0, py0)
        if abs(cx - (x0 + x1) / 2) < 0.15 * face_width:
            continue
        s = abs(np.log(sw / w)) + abs(np.log(sh / h)) + abs(cy - (y0 + y1) / 2) / h
        if s < score:
            best, score = i, s
    if best is None:
        return None
    out = np.zeros(rgb.shape[:2], bool)
    out[py0:py1, px0:px1] = labels == best
    return out


def _mirror_image(rgb: np.ndarray, eye: np.ndarray, skin: np.ndarray, face_width: float) -> np.ndarray | None:
    """The other eye where it is no stroke of its own, because it touches one that runs on (a
    glasses' frame): the place along the eye's row whose marks best match the eye's mirror image.
    Of a stroke that runs on, only its thick parts are taken (an iris that meets the frame, not the
    frame's line). None where no place matches, or where what is found reaches beyond the mirror
    image (a frame's bar drawn over the eye's lid, which a closed lid would erase)."""
    x0, y0, x1, y1 = _extent(eye)
    pad = max(2, int(round(face_width / 40)))
    template = np.pad(np.fliplr(eye[y0:y1 + 1, x0:x1 + 1]), pad).astype(np.float32)
    th, tw = template.shape
    ax0, ay0, ax1, ay1 = _beside(rgb.shape, (x0, y0 - pad, x1, y1 + pad + 1), face_width, 0.2 * face_width)
    marks = _marks(rgb, skin)
    area = marks[ay0:ay1, ax0:ax1] & ~eye[ay0:ay1, ax0:ax1]
    if area.shape[0] < th or area.shape[1] < tw:
        return None
    score = cv2.matchTemplate(area.astype(np.float32), template, cv2.TM_CCOEFF_NORMED)
    centres = ax0 + np.arange(score.shape[1]) + tw / 2
    score[:, np.abs(centres - (x0 + x1) / 2) < 0.15 * face_width] = -1  # the eye itself
    iy, ix = np.unravel_index(int(np.argmax(score)), score.shape)
    if score[iy, ix] < MIRROR_MATCH:
        return None
    sy, sx = ay0 + iy, ax0 + ix
    image = np.zeros_like(marks)
    image[sy:sy + th, sx:sx + tw] = template > 0
    near = cv2.dilate(image.astype(np.uint8), np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)) > 0
    wy0, wx0 = max(0, sy - pad), max(0, sx - pad)
    window = marks[wy0:sy + th + pad, wx0:sx + tw + pad]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(window.astype(np.uint8), connectivity=8)
    runs = np.isin(labels, [i for i in range(1, count) if not _ends_inside(stats[i], window.shape)])
    k = 2 * _line_width(face_width) + 1
    thick = cv2.morphologyEx(runs.astype(np.uint8), cv2.MORPH_OPEN,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    line = np.zeros_like(marks)
    line[wy0:wy0 + window.shape[0], wx0:wx0 + window.shape[1]] = runs & ~thick
    twin = near & marks & ~line
    if not twin.any():
        return None
    twin = _filled(twin)
    if (twin & ~image).sum() > MIRROR_BEYOND * twin.sum():
        return None
    return twin


def _eyes_alike(eye_l: np.ndarray, eye_r: np.ndarray, face_width: float) -> bool:
    """Two eyes side by side: apart, about level, neither more than twice the other's width or
    height (where one eye's lid was taken for a brow and cut off, the other is whole)."""
    (lx0, ly0, lx1, ly1), (rx0, ry0, rx1, ry1) = _extent(eye_l), _extent(eye_r)
    dx, dy = _centre(eye_r) - _centre(eye_l)
    widths, heights = sorted((lx1 - lx0 + 1, rx1 - rx0 + 1)), sorted((ly1 - ly0 + 1, ry1 - ry0 + 1))
    return (not (eye_l & eye_r).any() and lx1 < rx0 and 0.15 * face_width <= dx <= 0.8 * face_width
            and abs(dy) <= 0.2 * face_width and widths[1] <= 2 * widths[0] and heights[1] <= 2 * heights[0])


def _mouth_below(mouth: np.ndarray, eyes: list[np.ndarray], face_width: float) -> bool:
    x0, _, x1, _ = _extent(mouth)
    below = all(_centre(mouth)[1] - _centre(e)[1] >= 0.15 * face_width and not (mouth & e).any() for e in eyes)
    return below and 0.05 * face_width <= x1 - x0 + 1 <= 0.6 * face_width


def _ink(rgb: np.ndarray, mask: np.ndarray) -> tuple[int, int, int]:
    """The darkest tenth of a feature's marks: its outline's colour."""
    colours = rgb[mask].astype(np.float32)
    lightness = colours.sum(-1)
    return tuple(int(c) for c in colours[lightness <= np.percentile(lightness, 10)].mean(0))


def _painted_over(rgb: np.ndarray, mask: np.ndarray, skin: np.ndarray, face_width: float) -> np.ndarray:
    """The marks painted over with the skin around them: inpainted from their surroundings, with
    whatever around them is not skin (hair, an outline) taken as the skin's colour first, so that
    it does not bleed into the paint (a grey smudge over an eye drawn by the hair's edge)."""
    grow = max(3, int(round(face_width / 40)) | 1)
    cover = cv2.dilate(mask.astype(np.uint8), np.ones((grow, grow), np.uint8))
    around = cv2.dilate(cover, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > cover
    source = rgb.copy()
    source[around & _marks(rgb, skin)] = skin.round().astype(np.uint8)
    out = rgb.copy()
    out[cover > 0] = cv2.inpaint(source, cover, grow, cv2.INPAINT_TELEA)[cover > 0]
    return out


def _line_width(face_width: float) -> int:
    return max(1, int(round(face_width / 45)))


def with_eye_shut(rgb: np.ndarray, eye: np.ndarray, skin: np.ndarray, face_width: float,
                  frame: np.ndarray | None = None) -> np.ndarray:
    """The eye painted over, and a closed lid's curve (sagging a little) drawn across its width;
    a glasses' ``frame`` that it touches kept as drawn."""
    x0, y0, x1, y1 = _extent(eye)
    out = _painted_over(rgb, eye, skin, face_width)
    xs = np.linspace(x0, x1, 24)
    sag = 0.12 * (x1 - x0) * (1 - ((xs - (x0 + x1) / 2) / max((x1 - x0) / 2, 1)) ** 2)
    ys = y0 + 0.55 * (y1 - y0) + sag
    curve = np.stack([xs, ys], -1)[None].round().astype(np.int32)
    cv2.polylines(out, curve, False, _ink(rgb, eye), _line_width(face_width), cv2.LINE_AA)
    if frame is not None:
        out[frame] = rgb[frame]
    return out


# An open mouth's inside, a deep red darker than any drawn lip, and its tongue.
MOUTH_INSIDE, TONGUE = (110, 40, 50), (215, 105, 115)


# A mouth drawn open: at least this tall for its width, this share of it not its ink, and that
# dark (mean luma, 0-255). Measured: the adventurer grins 0.35, 0.65-0.69 and 74-75; a smile's line
# 0.44 and 0.14, another 0.20 and 0.31, a straight line 0.07 and 0; a held-out procedural head's
# thick line with the face's shading beside it 0.36, 0.58 and 174 (stretched, it stayed closed).
OPEN_MOUTH_SHAPE, OPEN_MOUTH_INSIDE, DARK_INSIDE = 0.25, 0.5, 110.0
# A mouth drawn open opens this many times its height, or less where the chin comes first.
WIDER, LEAST_WIDER = 1.8, 1.3


def _drawn_open(rgb: np.ndarray, mouth: np.ndarray) -> bool:
    x0, y0, x1, y1 = _extent(mouth)
    ink = np.array(_ink(rgb, mouth), np.float32)
    colours = rgb[mouth].astype(np.float32)
    inside = colours[np.linalg.norm(colours - ink, axis=-1) > MARK_CONTRAST]
    return ((y1 - y0 + 1) >= OPEN_MOUTH_SHAPE * (x1 - x0 + 1) and len(inside) >= OPEN_MOUTH_INSIDE * len(colours)
            and float(inside.mean(0) @ np.array([0.299, 0.587, 0.114])) < DARK_INSIDE)


def _opened_wider(rgb: np.ndarray, mouth: np.ndarray, skin: np.ndarray, face_width: float) -> np.ndarray | None:
    """A mouth drawn open, drawn as it is but taller, its top where it was (the jaw drops): in the
    drawing's own style, where an ellipse would be another's. None where the chin's outline
    leaves no room below it."""
    pad = max(2, int(round(face_width / 60)))  # the outline's soft edge goes with it
    x0, y0, x1, y1 = _extent(mouth)
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(rgb.shape[1] - 1, x1 + pad), min(rgb.shape[0] - 1, y1 + pad)
    height, width = y1 - y0 + 1, x1 - x0 + 1
    around = cv2.dilate(mouth.astype(np.uint8), np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)) > 0
    alpha = cv2.GaussianBlur(around[y0:y1 + 1, x0:x1 + 1].astype(np.float32), (0, 0), pad / 2,
                             borderType=cv2.BORDER_CONSTANT)
    # in each column, how far down the mouth reaches, soft edge and all, and where the next mark is
    rows = np.arange(rgb.shape[0] - y0)[:, None]
    reach = np.where(alpha > 1 / 255, rows[:height], -1).max(0) + 1
    others = (_marks(rgb, skin) & ~around)[y0:, x0:x1 + 1] & (rows >= reach)
    first = np.where(others, rows, len(rows)).min(0)
    taller = min(WIDER, float(((first - 1) / np.maximum(reach, 1))[reach > 0].min()))
    if taller < LEAST_WIDER:
        return None
    new_height = int(round(height * taller))
    drawn = cv2.resize(rgb[y0:y1 + 1, x0:x1 + 1], (width, new_height), interpolation=cv2.INTER_CUBIC)
    alpha = cv2.resize(alpha, (width, new_height), interpolation=cv2.INTER_LINEAR)[..., None]
    out = _painted_over(rgb, mouth, skin, face_width)
    under = out[y0:y0 + new_height, x0:x1 + 1].astype(np.float32)
    n = len(under)  # the picture's bottom edge
    out[y0:y0 + n, x0:x1 + 1] = (alpha[:n] * drawn[:n] + (1 - alpha[:n]) * under + 0.5).clip(0, 255).astype(np.uint8)
    return out


def with_mouth_open(rgb: np.ndarray, mouth: np.ndarray, skin: np.ndarray, face_width: float) -> np.ndarray:
    """A mouth drawn open, opened wider (:func:`_opened_wider`). Any other painted over and an open
    one drawn in its place: an ellipse as wide as most of the
    drawn mouth (at least a fifth of the face), a little lower, a tongue at its bottom, outlined in
    the mouth's ink. Sized for a mouth in mid-speech: on 16 held-out identities given one drawing,
    a smaller one (0.65 x the width, height 0.4 x its width, against 0.8 and 0.5) followed the
    driver's mouth 0.56 of the truth's change against 0.78, for masked L1 0.0213 against 0.0215."""
    if _drawn_open(rgb, mouth) and (wider := _opened_wider(rgb, mouth, skin, face_width)) is not None:
        return wider
    x0, y0, x1, y1 = _extent(mouth)
    width = 0.8 * max(x1 - x0 + 1, 0.22 * face_width)
    centre = (int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2 + 0.1 * width)))
    axes = (int(round(width / 2)), int(round(0.25 * width)))
    out = _painted_over(rgb, mouth, skin, face_width)
    cv2.ellipse(out, centre, axes, 0, 0, 360, MOUTH_INSIDE, -1, cv2.LINE_AA)
    inside, tongue = np.zeros(out.shape[:2], np.uint8), np.zeros(out.shape[:2], np.uint8)
    cv2.ellipse(inside, centre, axes, 0, 0, 360, 1, -1)
    cv2.ellipse(tongue, (centre[0], centre[1] + axes[1]), (int(0.7 * axes[0]), int(0.8 * axes[1])), 0, 0, 360, 1, -1)
    out[(inside & tongue) > 0] = TONGUE
    cv2.ellipse(out, centre, axes, 0, 0, 360, _ink(rgb, mouth), _line_width(face_width), cv2.LINE_AA)
    return out


@dataclass(frozen=True)
class Variant:
    preset: str  # the expression preset it shows (puppet.params.PRESETS)
    rgb: np.ndarray  # uint8 [H,W,3]
    params: np.ndarray  # [NUM_PARAMS]


def variants(rgb: np.ndarray, rest: np.ndarray, wanted: set[str], marks: FaceMarks | None = None) -> list[Variant]:
    """Of the presets ``wanted`` ("blink", "wink left", "wink right", "mouth open"), those that can
    be drawn into the drawing ``rgb`` (uint8 [H,W,3], drawn over white where transparent), whose
    expression is ``rest`` [NUM_PARAMS]: each with that preset's values set on it. With the open
    mouth, each drawn eye preset is drawn with it too ("blink + mouth open"): the character shows
    one drawing at a time where its drawings clash (a drawn mouth's strokes can reach an eye's
    region), and a driver that talks while it blinks would otherwise lose its mouth or its blink."""
    marks = marks if marks is not None else find_marks(rgb)
    eyes = {"blink": (marks.eye_l, marks.eye_r), "wink left": (marks.eye_l,), "wink right": (marks.eye_r,)}
    drawn = [Variant("rest", rgb, rest)]  # the drawing itself, to draw the mouth into (left out below)
    if marks.eye_l is not None:
        for preset in (p for p in eyes if p in wanted):
            out = rgb
            for eye in eyes[preset]:
                out = with_eye_shut(out, eye, marks.skin, marks.face_width, marks.frame)
            drawn.append(Variant(preset, out, P.with_preset(rest, preset, add=True)))
    if "mouth open" in wanted and marks.mouth is not None:
        drawn += [Variant("mouth open" if v.preset == "rest" else f"{v.preset} + mouth open",
                          with_mouth_open(v.rgb, marks.mouth, marks.skin, marks.face_width),
                          P.with_preset(v.params, "mouth open", add=True)) for v in drawn]
    return drawn[1:]


def wanted(expressions: np.ndarray) -> set[str]:
    """The presets to draw for a set of images [N, NUM_PARAMS]: those whose like no image shows
    (:func:`puppet.params.shown_expressions`)."""
    shown = P.shown_expressions(expressions)
    out = {f"wink {side}" for side in ("left", "right") if not shown[side]}
    if not (shown["left"] or shown["right"]):
        out.add("blink")
    if not shown["mouth"]:
        out.add("mouth open")
    return out
