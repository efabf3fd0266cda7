"""The global head motion of the warp head: where each output pixel is found in a reference.

A reference image shows the head at its own pose (yaw, pitch, roll, offset, scale); the output
shows it at the driver's. Both are drawn in the proxy framing that every source crop and proxy
render shares (head centre at ``CENTRE``, face half-height ``UNIT`` of the side), so one model of
head motion serves procedural heads and drawings alike (fine-tuning's ``export/train/warp.py``
turns sources with it too): a 2.5-D parallax for yaw and pitch (a point at depth z on the head
ellipsoid shifts by z*sin(angle), inverted by a few fixed-point steps: see ``PARALLAX_STEPS``) and
a roll that turns the head about its centre and fades out over the neck (the renderer tilts the
head, not the shoulders: a rigid roll of the whole picture made the error worse than no motion),
and a similarity for scale and offset, which move the whole figure. The ellipsoid is the proxy's,
scaled by the head's size where it is known (``head_size``, relative to the proxy's: a character's
is read from its identity, :meth:`export.base_model.BaseModel.head_size_of`): a larger head's
features travel further on a turn or a nod.

All coordinates here are grid_sample's: x and y in [-1, 1] over the image (align_corners=False),
so one grid serves every resolution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from puppet import params as P
from puppet.heads import CENTRE, PROXY
from puppet.heads.render import UNIT

POSE_INDEX = [P.INDEX[n] for n in P.POSE_NAMES]  # the order pose() unpacks them in
# The head centre and the face's half-height and half-width, in grid units (the side is 2).
CX, CY = 2 * CENTRE[0] - 1, 2 * CENTRE[1] - 1
HALF_H = 2 * UNIT * PROXY.head_size
HALF_W = HALF_H * PROXY.face_width
DEPTH = PROXY.face_depth * HALF_H
# Where the roll fades from the head to the neck, in face half-heights below the head centre
# (fitted on procedural heads: the roll's mask error 0.014 against 0.039 for no motion).
ROLL_FULL, ROLL_NONE = 0.7, 1.1
# A figure that widens below its neck by this much has shoulders: see ``neck_fade``.
SHOULDERS = 1.5
# Where a figure's shoulders begin above ROLL_NONE, the fade ends there, and spans at least this.
LEAST_FADE = 0.2
# A point the roll turns to within this of the body's first row (face half-heights) reads where
# it is: the shoulders' outline lies a little above the first row they widen the figure in.
BODY_MARGIN = 0.1


class Neck(NamedTuple):
    """Where a figure's head turns into its body, in face half-heights below the head's centre:
    the roll turns the head whole down to ``full`` and not at all from ``none`` on, and a point
    that it turns to the ``body``'s rows (the shoulders) reads where it is."""

    full: float
    none: float
    body: float


# procedural heads: the fade fitted on them; their shoulders begin 1.75 below the centre
NECK = Neck(ROLL_FULL, ROLL_NONE, 1.75)
# The parallax's backward map is solved by this many fixed-point steps. One step (the depth read
# where the output point is, not where it came from) folds the picture near the face's edge: on
# 16 held-out identities a rest render moved to yaw +-30 was further from the true render than the
# rest render itself (masked L1 0.031-0.033 against 0.026), and turning Mina drew the outline of
# her back hair across her skull, or a second pupil by her eye. Four steps: 0.017-0.019 (all six
# test motions: 0.024 -> 0.016); even counts, since near the edge the steps alternate between two
# answers and the odd ones are the folded one (three steps: 0.026-0.027). The shipped base was
# trained on with it: its local flow had learnt to undo the folds of one step.
PARALLAX_STEPS = 4
# At inference (``steady``) a driver's offset and scale count only by how far they pass these
# margins from a reference's (a fraction of the side, a fraction of the size). The read-out's own
# noise on proxies placed alike is 0.004 of the side and 0.007 of the size (standard deviations,
# 96 drivers at random expressions and poses): it moved the whole figure, shoulders and all, by up
# to a pixel or two, and the local flow learnt to chase it. On 16 held-out identities the rows
# below the chin, still in every true render, drew at 0.0042 masked L1 against the static
# source's 0.0014; steadied, with the flow kept to the head (``warp_head.FLOW_FULL``), 0.0011 (the
# whole picture 0.0230 -> 0.0199, with ``warp_head.SUPERSAMPLE`` 3). A user moving the head by more
# than 2 px in a 256 px picture moves the character as before, those 2 px less.
STEADY_OFFSET = 0.008
STEADY_SCALE = 0.013


def identity_grid(side: int, device=None) -> torch.Tensor:
    """[side, side, 2] grid coordinates (x, y) of the pixel centres. Made in numpy, so that an
    exported graph holds it as one constant instead of recomputing it each frame."""
    t = (np.arange(side, dtype=np.float32) + 0.5) / side * 2 - 1
    ys, xs = np.meshgrid(t, t, indexing="ij")
    return torch.from_numpy(np.stack([xs, ys], axis=-1)).to(device)


def within(grid: torch.Tensor, side: int) -> torch.Tensor:
    """Grid points held to the centres of a ``side`` px picture's edge pixels, so that a point
    beyond its edge reads the edge's pixels (or, for a field at the model's resolution, what
    enlarging it would: its edge cells reach to the border). A figure that the picture's edge cuts
    (a procedural character's shoulders) then goes on past it when the driver's offset or scale
    moves the figure in, instead of leaving a strip of background under it; a drawing whose edges
    are background (Mina's) draws the same either way. Sampled then with zeros beyond the edge,
    which no point reaches: onnxruntime's GridSample with "border" padding took Mina's frame from
    6.3 to 10.1 ms on a 2-core CPU."""
    return grid.clamp(-1 + 1 / side, 1 - 1 / side)


def face_uv(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, head_size: float | torch.Tensor = 1.0):
    """Grid points (tensors or arrays) on the face ellipse of a head ``head_size`` times the
    proxy's: (u, v), 0 at the head centre, 1 on the outline."""
    return (x - CX) / (HALF_W * head_size), (y - CY) / (HALF_H * head_size)


def _depth(x: torch.Tensor, y: torch.Tensor, head_size: float | torch.Tensor, soft_edge: bool) -> torch.Tensor:
    """The face ellipsoid's depth at grid points (0 outside the face); see ``head_motion_grid``'s
    ``soft_edge``."""
    u, v = face_uv(x, y, head_size)
    # clamped above 0: the square root's gradient at 0 is infinite (a NaN once multiplied by the
    # clamp's zero gradient outside the face)
    inside = torch.clamp(1 - u * u - v * v, min=1e-6)
    return (DEPTH * head_size) * (inside if soft_edge else torch.sqrt(inside))


def _parallax(x: torch.Tensor, y: torch.Tensor, turn_x: torch.Tensor, turn_y: torch.Tensor,
              head_size: float | torch.Tensor, soft_edge: bool):
    """Where a point at (x, y) after the turn was before it: the point p = (x, y) + depth(p) *
    (turn_x, -turn_y), the turns being differences of sines of yaw and pitch ([...,1,1])."""
    px, py = x, y
    for _ in range(PARALLAX_STEPS):
        depth = _depth(px, py, head_size, soft_edge)
        px, py = x + depth * turn_x, y - depth * turn_y
    return px, py


def _place(x, y, dx, dy, scale, inverse: bool):
    """Scale about the head centre, then shift (grid units); or the inverse of that."""
    if inverse:
        return CX + (x - dx - CX) / scale, CY + (y - dy - CY) / scale
    return CX + scale * (x - CX) + dx, CY + scale * (y - CY) + dy


def on_head(y: torch.Tensor, full: float, none: float) -> torch.Tensor:
    """At grid rows ``y``: 1 down to ``full`` face half-heights below the head's centre, 0 from
    ``none`` on, a smoothstep between: how much of a motion of the head reaches the neck."""
    fade = torch.clamp((none - (y - CY) / HALF_H) / (none - full), 0.0, 1.0)
    return fade * fade * (3 - 2 * fade)


def neck_fade(figures: torch.Tensor) -> Neck | None:
    """figures [R,S,S] (bool) -> where a drawing's head turns into its body
    (``head_motion_grid``'s ``neck``), or None where the figure has no neck and body to keep
    still. It has if it reaches the picture's bottom edge (a procedural head's shoulders), or if
    below the head's centre it narrows to a neck and then widens to shoulders ``SHOULDERS`` times as wide: a bust whose drawing ends above that edge
    (micah's and lorelei's drawings, framed as the proxy's renders, end at 0.73 of the side; their
    shoulders are 1.7-3.0 times as wide as their necks). A head drawn alone (Mina) narrows to its
    chin and ends: it rolls whole. The body begins where the shoulders do, and the fade is the one
    fitted on procedural heads (``NECK``), ended there where they begin higher: those busts'
    shoulders begin 0.86-0.97 face half-heights below the centre, inside that fade, and a tilt of
    25 degrees lifted one shoulder and sheared the other (procedural heads' begin at 1.75)."""
    side = figures.shape[-1]
    widths = figures.sum(-1).float()  # [R,S]
    start = int(CENTRE[1] * side)
    below = widths[:, start:]
    narrowest = torch.cummin(below, dim=1).values  # the narrowest row above each, from the head's centre down
    widened = (narrowest > 0) & (below >= SHOULDERS * narrowest)  # [R,rows]
    if not bool(widened.any()):  # a body the picture's edge cuts before it widens, or none
        return NECK if bool((widths[:, -1] > 0).any()) else None
    depth = (identity_grid(side)[start:, 0, 1] - CY) / HALF_H  # of each row, in face half-heights
    first = widened.float().argmax(1)[widened.any(1)]  # each drawing's first row of shoulders
    body = float(depth[first].min())
    end = min(ROLL_NONE, body)
    return Neck(min(ROLL_FULL, end - LEAST_FADE), end, body)


def _roll(x, y, roll, reach):
    """Points turned clockwise on screen by ``roll`` radians times ``reach`` (1 turns them with the
    head, 0 leaves them still)."""
    angle = roll * reach
    c, s = torch.cos(angle), torch.sin(angle)
    x, y = x - CX, y - CY
    return CX + c * x - s * y, CY + s * x + c * y


def _steadied(driver: torch.Tensor, reference: torch.Tensor, margin: float) -> torch.Tensor:
    """The driver's value, moved toward the reference's by ``margin`` and not past it."""
    d = driver - reference
    return reference + torch.sign(d) * torch.clamp(d.abs() - margin, min=0.0)


def head_motion_grid(points: torch.Tensor, driver: torch.Tensor, reference: torch.Tensor,
                     head_size: float | torch.Tensor = 1.0, soft_edge: bool = False,
                     steady: bool = False, neck: Neck | None = NECK,
                     hair: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Backward map of head motion.

    points [N,H,W,2]: grid coordinates in the output (at the driver's pose); driver [N,NUM_PARAMS]
    and reference [N,R,NUM_PARAMS]: parameter vectors; ``head_size``: the head's size relative to
    the proxy's (a float, or [N,1,1,1] for a head of its own per sample). Returns [N,R,H,W,2]: for
    each reference, where each point is found in it.

    The ellipsoid's depth falls to its outline as a sphere's does, steeply (``soft_edge`` False):
    right for heads shaped and placed as the proxy's, which the fold at the outline leaves whole.
    A drawing's head seldom lies where the proxy's does, and where the outline crossed one of its
    features (Mina's far eye, her tuft), the fold there drew that feature twice or cut it. With
    ``soft_edge`` the depth falls linearly (no fold on turns up to 20 degrees). On Mina's rest
    drawing, the share of her figure's pixels where the motion folds or tears, turned by yaw -30,
    -20, +20 and +30 degrees: 6.2, 3.9, 3.6 and 5.9 % with a sphere's edge, 2.3, 0, 0 and 2.3 % with
    the soft one. On 16 held-out procedural identities, whose heads are the proxy's shape, the soft
    edge lost what the sphere's gets right (masked L1 0.0230 -> 0.0241, yaw follow 0.89 -> 0.70).
    ``steady``: the driver's offset and scale within ``STEADY_OFFSET`` and ``STEADY_SCALE`` of a
    reference's leave the figure where the reference has it. ``neck``: where the roll fades over
    the figure's neck (:func:`neck_fade`), leaving the body below still; None: the whole figure
    rolls (a head alone, as Mina is: with the fade, her chin flattened and her mouth sheared on a
    tilt of 25 degrees). The roll's fade is the one fitted on heads of every size: scaled with
    each head's size, it moved 8 held-out identities' rolled renders further from the truth
    (masked L1 0.0115 -> 0.0118 classic, 0.0097 -> 0.0101 styled).

    ``hair``: how much of a reference goes with the head below the fade, read at points [N,R,H,W,2]
    where they are found in it -> [N,R,H,W] (hair hanging beside the neck: :mod:`~.hair`). A point
    that finds it there, turned with the head or not turned at all, turns whole: the hair goes
    with the head, and where it hung, what lay beside it comes in, turned as well.
    """
    def pose(p):  # [..., NUM_PARAMS] -> six [..., 1, 1] tensors in radians and grid units
        yaw, pitch, roll, ox, oy, scale = (p[..., i, None, None] for i in POSE_INDEX)
        return (yaw * (math.pi / 180), pitch * (math.pi / 180), roll * (math.pi / 180), 2 * ox, 2 * oy, scale)

    yaw_d, pitch_d, roll_d, ox_d, oy_d, s_d = pose(driver[:, None])  # [N,1,1,1] each
    yaw_r, pitch_r, roll_r, ox_r, oy_r, s_r = pose(reference)  # [N,R,1,1] each
    if steady:  # in grid units, where the side is 2
        ox_d, oy_d = _steadied(ox_d, ox_r, 2 * STEADY_OFFSET), _steadied(oy_d, oy_r, 2 * STEADY_OFFSET)
        s_d = _steadied(s_d, s_r, STEADY_SCALE)
    x, y = points[:, None, ..., 0], points[:, None, ..., 1]  # [N,1,H,W]
    # Each motion goes from the driver's pose to the reference's in one step, so that equal
    # poses map every point to itself (the parallax is then taken in the reference's roll, a
    # small error where the head both turns and tilts).
    x, y = _place(x, y, ox_d, oy_d, s_d, inverse=True)

    def in_reference(xr, yr) -> torch.Tensor:  # [N,R,H,W,2]
        return torch.stack(_place(xr, yr, ox_r, oy_r, s_r, inverse=False), dim=-1)

    reach, found = (on_head(y, neck.full, neck.none) if neck is not None else 1.0), None
    if neck is not None and hair is not None:
        # Hair hangs off the face, where the parallax moves nothing: looked for without it, at half
        # the grid's side. In full, a procedural demo character's frame took 5 ms more in
        # onnxruntime on a 2-core CPU; at every point without the parallax, 2 ms more.
        x2, y2 = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        still, whole = hair(in_reference(x2, y2)), hair(in_reference(*_roll(x2, y2, roll_r - roll_d, 1.0)))
        found = F.interpolate(torch.maximum(still, whole), size=x.shape[-2:], mode="nearest") > 0.5
        # all or nothing: a point turned part of the way read halfway along a long strand
        reach = torch.maximum(reach, found.float())
    turned_x, turned_y = _roll(x, y, roll_r - roll_d, reach)
    if neck is not None:
        # A point that the fade turns into the body's rows, which stay, reads where it is: beside a
        # bust's neck the rows just above its shoulders turned into them, and a tilt drew one
        # shoulder higher and sheared the other.
        into_body = (turned_y - CY) / HALF_H >= neck.body - BODY_MARGIN
        if found is not None:  # hanging hair turns whole, wherever it hangs
            into_body = into_body & ~found
        turned_x, turned_y = torch.where(into_body, x, turned_x), torch.where(into_body, y, turned_y)
    x, y = turned_x, turned_y
    x, y = _parallax(x, y, torch.sin(yaw_r) - torch.sin(yaw_d), torch.sin(pitch_r) - torch.sin(pitch_d), head_size,
                     soft_edge)
    return in_reference(x, y)
