"""The warp output head: the character is drawn with its own reference images' pixels.

A generator that synthesises every pixel becomes sharp only after GPU-weeks of adversarial
training; motion fields are smooth and learn on a CPU, and detail then comes from the references
for free. The AdaIN trunk's output at the model resolution is read as:

- ``flow`` (2): a small local motion (eyelids, lips) in grid units, bounded by the config's
  ``warp_flow`` (a few per cent of the side; 0 turns it off);
- ``regions`` (4): a per-pixel softmax over left eye, right eye, mouth and the rest of the head;
- ``residual`` (3) and ``alpha`` (1): paint for what no reference shows (a mouth's inside, an
  eyelid over an open eye); the loss penalises alpha, so that copying pixels is the cheap path;
- ``mask`` (1): the figure's mask where the residual paints.

The global head motion (``head_motion``) moves each reference from its own pose to the driver's,
with the pose read from the pose code by ``readout`` (the expression parameters scaled to [-1, 1],
trained against the true ones in meta-training). Each region then takes the reference whose
parameters of that region (the eye's openness, the mouth's opening, smile and width, the head
pose for the rest) are nearest the driver's, by a softmax over negative distances: an
expression sheet drawn by an artist is what the character shows.

picture = alpha * residual + (1 - alpha) * sum_r w_r * warp(reference_r), with
w_r = sum_regions region * choice_region,r. Motion, regions and alpha are upsampled from the
model resolution to the references' (the output resolution), so a 256 px output costs little.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from puppet import params as P

from .head_motion import NECK, POSE_INDEX, Neck, head_motion_grid, identity_grid, on_head, within
from .param_units import from_unit, to_unit
from .strokes import Strokes, shared, strokes_taken, taken_maps
from .windows import at_points, corners, lay_over, placed, window_pixels, window_side

# The trunk's output channels, in order.
FLOW, REGIONS, RESIDUAL, ALPHA, MASK = slice(0, 2), slice(2, 6), slice(6, 9), slice(9, 10), slice(10, 11)
WARP_CHANNELS = 11
ALPHA_BIAS = -3.0  # the residual starts nearly transparent
# Of the softmax over negative squared distances in parameters scaled to [-1, 1]: low enough that
# references a tenth of the range apart are told apart. Blends ghost: a learnt temperature stayed
# at its start (0.1) and gave the chosen reference a weight of 0.6-0.7; at 0.02 a drawn character
# whose images share an eye state but look different ways showed every pupil at once.
CHOICE_TEMPERATURE = 0.005
# Ties (several references with the same eyes) go to the reference nearest in the whole face and
# the head's pose, so that every region agrees on one drawing instead of blending equals (a rest
# face and the same face turned 35 degrees each way blended into a ghost). At 0.1 a drawn
# character's rest face still took its eyes from one drawing and the rest from another; at 0.25 an
# eye's own state (a distance of about 2.4) still outweighs a mouth that differs (0.25 x 4).
TIE_BREAK = 0.25
# Only what the pose code carries chooses. The read-out of the shipped base on proxy renders
# explains 80-98 % of the variance of eyes, mouth opening and head pose, 23-42 % of smile and mouth
# width, and none of brows and gaze: it reads those at rest whatever the driver does, so choosing
# by them took every region to the drawings with level brows and centred pupils, each region
# from a different drawing (Mina redrew her own grin with another image's eyes and tongue).
TIE_NAMES = ("eye_open_l", "eye_open_r", "mouth_open", "smile", "mouth_width", "yaw", "pitch", "roll")
# At inference (eval mode) both softmaxes, the regions' at each pixel and each region's choice of
# drawing, run sharper than trained. Regions, at a quarter of their trained temperature: as
# trained an eye's region covered its eye only about half, so where the eye and the rest chose
# different drawings both showed, two pupils, one faint (Mina on the demo clip, most frames);
# training keeps them as they are, since a run trained sharper learnt logits a quarter as large
# and 23 % of Mina's face pixels were shared again. Choice, at a sixty-fourth: drawings nearly alike
# in what the driver conveys cross-faded, the whole face a ghost of two drawings. The rest of the
# face chooses by ties only (a sheet's drawings share one pose), a quarter the weight, so its
# cross-fades were the widest. Mina driven to 16 random expressions (tests/test_assets.py) mixed
# drawings in 23 % of her face pixels with both as trained, 13 % with both at a quarter, 2.5 %
# with the choice at a sixty-fourth (the rest: where regions that chose different drawings meet).
# On 16 held-out identities masked L1 and sharpness did not change with either.
REGION_SHARPENING = 4.0
CHOICE_SHARPENING = 64.0
# Given the previous frame's choice, each region's previous drawing counts as this much nearer (in
# the choice's distance): a hold, so that a driver between two drawings does not flick between
# them. Mina on the demo clip (471 frames), her drawings placed where the read-out puts them
# (FrozenWarpCharacter), switched drawings 74 / 92 / 89 / 92 times (left eye, right eye, mouth,
# the rest), 18 / 20 / 26 / 20 of them for a single frame; held by 0.08, 29 / 50 / 39 / 29 and
# 1 / 2 / 2 / 0, with 84 % of choices as without (held by 0.04: 39 / 75 / 51 / 50 and 2 / 9 / 6 / 3).
# With the eyes and mouth leaning to the rest's drawing (COHERENCE): 88 / 93 / 84 / 92 and
# 19 / 19 / 18 / 20 without the hold, 33 / 40 / 32 / 29 and 2 / 3 / 1 / 0 with it; with the base
# retrained for the parallax of head_motion.PARALLAX_STEPS: 102 / 100 / 89 / 98 and 19 / 17 / 14 / 17
# without, 35 / 43 / 30 / 30 and 1 / 4 / 1 / 0 with it; with its references calibrated, as shipped
# (Mina without local flow): 80 / 91 / 83 / 90 and 13 / 19 / 20 / 20 without, 34 / 42 / 33 / 29 and
# 1 / 5 / 1 / 0 with it.
HOLD_MARGIN = 0.08
# At inference, with a sheet composed by strokes, an eye or the mouth counts a drawing that clashes
# with the rest's (see export/models/strokes.py) as this much further: beyond any distance between
# parameters in [-1, 1], so that it keeps the rest's drawing instead.
CLASH = 100.0
# At inference the eyes and the mouth each count the drawing the rest of the face takes as this
# much nearer (as the hold does the previous frame's), so that a region takes another drawing
# only where the driver clearly asks for it (a blink, a wink, an open mouth on a face drawn with
# it closed): where an eye and the rest took different drawings that differed little in what the
# driver conveys, both showed where the regions meet (part of a second brow or pupil). Mina on
# the demo clip: frames whose eyes come from another drawing than the rest 59 % -> 23 %, mouth
# 19 % -> 4 %, face pixels where regions that chose differently meet 2.8 % -> 0.9 %; on 16 held-out
# identities masked L1 and follow as without (their sheets' drawings differ in one feature each).
COHERENCE = 0.3
# At inference the references are sampled from a copy three times their side, upsampled
# bicubically (onnxruntime folds it into a constant when it loads the graph): bilinear sampling at
# part-pixel offsets blurs every line by up to half a pixel, and on the finer copy by a third as
# much. The factor is odd so that each pixel's centre is a texel's centre, which bicubic
# upsampling keeps as it was: a point that does not move copies its pixel exactly. At twice the
# side each such point fell between four texels and came out blurred (the shoulders, the neck and
# the whole still figure). On 16 held-out identities sharpness went from 0.74 to 0.85 of the
# truth's at twice the side (direct bicubic sampling: 0.92, but 73 ms a frame in onnxruntime on the
# CPU), and to 0.90 at three times (0.91 with the figure steadied, head_motion.STEADY_OFFSET).
# Textures stop at SUPERSAMPLED_UP_TO px a side: a 512 px character's copy would take 300 MB; a
# 256 px character's takes about 45 MB more memory once loaded than at twice the side.
SUPERSAMPLE = 3
SUPERSAMPLED_UP_TO = 768
# At inference the local flow moves the head and fades out over the neck (face half-heights below
# the head's centre, as the roll's fade): the body stays as drawn. Below the chin the shipped base's
# flow only chased the read-out's noise in the figure's placement (see head_motion.STEADY_OFFSET),
# which the steadied placement no longer has; kept there, it blurred the shoulders' outline.
FLOW_FULL, FLOW_NONE = 1.3, 1.7
# The parameters each region (left eye, right eye, mouth, the rest) chooses its reference by, and
# their weights in the distance.
REGION_PARAMS: tuple[dict[str, float], ...] = (
    {"eye_open_l": 1.0},
    {"eye_open_r": 1.0},
    {"mouth_open": 1.0, "smile": 0.6, "mouth_width": 0.4},
    {"yaw": 0.3, "pitch": 0.3, "roll": 0.3},
)
REST = len(REGION_PARAMS) - 1  # the rest of the face, the last region


def _region_weights() -> torch.Tensor:
    """[4, NUM_PARAMS]: each region's weights over the parameters."""
    w = torch.zeros(len(REGION_PARAMS), P.NUM_PARAMS)
    for g, names in enumerate(REGION_PARAMS):
        for name in TIE_NAMES:
            w[g, P.INDEX[name]] = TIE_BREAK
        for name, weight in names.items():
            w[g, P.INDEX[name]] += weight
    return w


def enlarged(grid: torch.Tensor, side: int) -> torch.Tensor:
    """[M,h,h,2] where points are found, at the model's resolution -> [M,S,S,2] at the output's.
    The motion (the grid less the identity) is what is enlarged, bilinearly, so that no motion
    stays exactly none up to the borders. Computed at the output's side instead (four times the
    points at 256 px), the head motion's parallax and roll made a procedural demo character's frame
    39.4 ms against 36.2 in onnxruntime on a 2-core CPU. The two differ where the parallax folds,
    along the face's outline (a turn of 30 degrees: 1 % of the pixels more than a pixel off, 98 %
    under a quarter of one): that character's masked L1 to its true renders at 256 px, driven by
    45 proxies, was 0.0259 either way, and the outlines look alike."""
    h = int(grid.shape[1])
    if h == side:
        return grid
    motion = (grid - identity_grid(h, grid.device)).permute(0, 3, 1, 2)  # [M,2,h,h]
    motion = F.interpolate(motion, size=(side, side), mode="bilinear", align_corners=False)
    return identity_grid(side, grid.device) + motion.permute(0, 2, 3, 1)


def stacked(texture: torch.Tensor) -> torch.Tensor:
    """[R,C,T,T] drawings -> [1,C,R*T,T]: stacked into one picture, which one grid_sample reads
    (:func:`sample_drawings`). Every reader of a frozen character's drawings reads this one
    picture, so that the exported graph holds it once (``store_references_as_bytes``)."""
    r, c, t, _ = texture.shape
    return texture.transpose(0, 1).reshape(1, c, r * t, t)


def sample_drawings(stack: torch.Tensor, grid: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
    """stack [1,C,R*T,T] the drawings (:func:`stacked`); grid [N,G,H,W,2] where G grids per driver
    find their points, each in the drawing ``taken`` [N,G] -> [C,N,G,H,W], bilinear; beyond a
    drawing's edge, the edge's pixels (:func:`~.head_motion.within`). Picking each region's drawing out of the
    texture first copied 16 MB a frame (four 512 px textures; a procedural demo character's frame
    36.2 -> 35.1 ms on a 2-core CPU). In grid units of the stack a point is a few ten-thousandths
    of a texel off."""
    c, t = stack.shape[1], stack.shape[-1]
    r = stack.shape[2] // t
    # held to the drawing's own pixel centres, a point never reaches the drawing stacked next to it
    x, y = within(grid, t).unbind(-1)
    y = (y + 1 + 2 * taken[:, :, None, None]) / r - 1  # in the stack
    n, g, height, width = grid.shape[:4]
    out = F.grid_sample(stack, torch.stack([x, y], -1).reshape(1, -1, width, 2), mode="bilinear",
                        padding_mode="zeros", align_corners=False)  # [1,C,N*G*H,W]
    return out.view(c, n, g, height, width)


def look_up(stack: torch.Tensor, grid: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
    """stack [1,1,R*T,T] maps (:func:`stacked`), grid [N,G,H,W,2], taken [N,G] -> [N,G,H,W]: the
    value of the map ``taken`` at the pixel each point lies in (the edge's beyond it). For maps
    smooth at their own pixel's scale (:mod:`~.hair`): a gather, where onnxruntime's GridSample took
    1.4 ms for the 16 384 points of a 128 px grid on a 2-core CPU."""
    t = stack.shape[-1]
    x, y = (((grid[..., i] + 1) * (t / 2)).floor().clamp(0, t - 1) for i in (0, 1))
    return stack.reshape(-1)[((y + t * taken[:, :, None, None]) * t + x).long()]


def softmax_channels(x: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 of [N,C,H,W], written out: onnxruntime's Softmax over the channel axis
    transposes the tensor there and back (1.2 ms of a 30 ms frame on a 2-core CPU)."""
    e = torch.exp(x - x.amax(1, keepdim=True))
    return e / e.sum(1, keepdim=True)


@dataclass(frozen=True)
class Shares:
    """How much of two learnt outputs a frozen character uses, each in [0, 1]. ``local_flow``: 0
    leaves only the global head motion. ``residual``: 0 draws every pixel from the references; the
    residual paints little but blur (on Mina, grey smudges over her cheek and forehead), which
    lowers masked L1 (0.0244 -> 0.0234 on 16 held-out identities) and sharpness with it."""
    local_flow: float = 1.0
    residual: float = 1.0

    def __post_init__(self) -> None:
        for name in ("local_flow", "residual"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a share of the learnt {name.replace('_', ' ')}, in [0, 1], "
                                 f"not {getattr(self, name)}")


@dataclass
class WarpOutput:
    """rgb [N,3,S,S], mask [N,1,S,S] at the references' side S; the rest at the model's."""

    rgb: torch.Tensor
    mask: torch.Tensor
    alpha: torch.Tensor  # [N,1,h,w]
    regions: torch.Tensor  # [N,4,h,w], softmax over regions
    choice: torch.Tensor  # [N,4,R], softmax over references
    params: torch.Tensor  # [N,NUM_PARAMS] read from the pose code, scaled to [-1, 1]
    # [N,4,S,S] for a frozen character: each region's drawing's share of each output pixel
    shown: torch.Tensor | None = None


class WarpHead(nn.Module):
    def __init__(self, pose_dim: int, max_flow: float, resolution: int, calibrated_pose: bool = False):
        super().__init__()
        self.max_flow, self.resolution = max_flow, resolution
        self.calibrated_pose = calibrated_pose
        self.readout = nn.Linear(pose_dim, P.NUM_PARAMS)
        pose = torch.zeros(P.NUM_PARAMS)
        pose[POSE_INDEX] = 1.0
        self.register_buffer("pose_mask", pose, persistent=False)
        self.register_buffer("region_weights", _region_weights(), persistent=False)
        # the regions that lean to the rest's drawing (COHERENCE): all but the rest itself
        self.register_buffer("leans", (torch.arange(len(REGION_PARAMS)) != REST).float(), persistent=False)
        grid = identity_grid(resolution)
        self.register_buffer("flow_reach", on_head(grid[..., 1:], FLOW_FULL, FLOW_NONE), persistent=False)

    def sharpening(self, at_inference: float) -> float:
        """How many times sharper than trained a softmax runs: see REGION_SHARPENING."""
        return 1.0 if self.training else at_inference

    def texture(self, references: torch.Tensor) -> torch.Tensor:
        """[B,C,S,S] references in [0,1] -> what the grids sample: see SUPERSAMPLE."""
        side = references.shape[-1] * SUPERSAMPLE
        if self.training or side > SUPERSAMPLED_UP_TO:
            return references
        return F.interpolate(references, size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1)

    def choose(self, driver_unit: torch.Tensor, reference_unit: torch.Tensor,
               previous: torch.Tensor | None = None, clash: torch.Tensor | None = None) -> torch.Tensor:
        """[N,P], [N,R,P] parameters in unit scale -> [N,4,R] softmax choice per region;
        ``previous`` [1 or N,4,R]: the last frame's choice, held by HOLD_MARGIN. At inference the
        eyes and the mouth lean to the rest's drawing by COHERENCE, and keep away by CLASH from
        drawings that ``clash`` [3,R,R] (:class:`~.strokes.Strokes`) with the rest's."""
        diff = (driver_unit[:, None, None, :] - reference_unit[:, None, :, :]) ** 2  # [N,1,R,P]
        dist = (diff * self.region_weights[None, :, None, :]).sum(-1)  # [N,4,R]
        if previous is not None:
            dist = dist - HOLD_MARGIN * previous
        scale = self.sharpening(CHOICE_SHARPENING) / CHOICE_TEMPERATURE
        if not self.training:  # eyes and mouth lean to the drawing the rest of the face takes
            rest = torch.softmax(-dist[:, REST] * scale, dim=-1)  # [N,R]
            dist = dist - COHERENCE * rest[:, None, :] * self.leans[None, :, None]
            if clash is not None:  # [n,g,a] = sum over b of clash[g,a,b] * rest[n,b]
                n, r = rest.shape
                away = (clash.reshape(-1, r) @ rest.T).T.reshape(n, REST, r)
                dist = dist + CLASH * torch.cat([away, torch.zeros_like(away[:, :1])], 1)
        return torch.softmax(-dist * scale, dim=-1)

    def calibrate(self, reference_params: torch.Tensor, reference_unit: torch.Tensor) -> torch.Tensor:
        """[N,R,NUM_PARAMS] references' parameters, their head pose moved by the read-out's mean
        error on the drivers showing them (``reference_unit`` [1 or N,R,NUM_PARAMS]), so that a
        driver read through the same bias moves each reference by the true difference of pose. The
        shipped read-out's error at rest was a constant: the head 2 % larger, 1 px lower at 128 px
        and rolled 1.7 degrees. Placing the nearest drawing at the read pose cost it 0.024 -> 0.040
        masked L1 on 16 held-out identities; a base trained without calibration learnt to undo
        the bias in its local flow, which is its to spend on the shape of the head instead."""
        error = ((from_unit(reference_unit) - reference_params) * self.pose_mask).mean(-2, keepdim=True)
        return reference_params + error  # one shift for all, so a sheet drawn alike keeps one pose

    @staticmethod
    def stroke_weights(maps: torch.Tensor, taken: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """[N,4,S,S]: how much each region's drawing shows at each output point, composed by
        strokes (:mod:`~.strokes`): the rest of the face's drawing, and over it the strokes each of
        the eyes and the mouth takes from its own. ``maps`` [3,R,R,h',h']
        (:class:`~.strokes.Strokes`), ``taken`` [N,4] each region's drawing, ``grid`` [N,S,S,2]
        where each output point is found on the sheet."""
        taking = taken_maps(maps, taken)  # [N,3,h',h']
        # sampled at half the side and enlarged: their edges lie where the drawings agree
        half = F.avg_pool2d(grid.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)  # [N,S/2,S/2,2]
        over = F.grid_sample(taking, half, mode="bilinear", padding_mode="zeros", align_corners=False)
        over = shared(F.interpolate(over, size=grid.shape[1:3], mode="bilinear", align_corners=False))  # [N,3,S,S]
        return torch.cat([over, 1 - over.sum(1, keepdim=True)], 1)

    def features_in_windows(self, picture: torch.Tensor, stack: torch.Tensor, regions: torch.Tensor,
                            moved: torch.Tensor, taken: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """picture [N,4,S,S] the rest of the face's drawing; stack [1,4,R*T,T] the drawings
        (:func:`stacked`); regions [N,4,h,h] and moved [N,4,h,h,2] (where each region finds its
        points in its drawing, at the model's resolution); taken [N,4] -> the picture with the eyes
        and the mouth laid over it,
        each drawn from its own drawing in a window that follows it (:mod:`~.windows`), and
        [N,4,S,S] each region's share of each pixel (to inspect: an exported graph leaves it out)."""
        side = int(picture.shape[-1])
        size = window_side(side)
        pixels, index = window_pixels(corners(regions[:, :REST], size, side), size, side)  # [N,3,W,W,2]
        motion = (moved[:, :REST] - identity_grid(self.resolution, moved.device)).permute(0, 1, 4, 2, 3)
        read = at_points(torch.cat([motion, regions[:, :REST, None]], 2), pixels)  # [N,3,3,W,W]
        grid, weights = pixels + read[:, :, :2].permute(0, 1, 3, 4, 2), read[:, :, 2]  # [N,3,W,W,2], [N,3,W,W]
        patches = sample_drawings(stack, grid, taken[:, :REST]).transpose(0, 1)  # [N,4,3,W,W]
        features = placed(weights, index, side)
        shown = torch.cat([features, 1 - features.sum(1, keepdim=True)], 1)
        return lay_over(picture, patches, weights, index), shown

    def forward(self, raw: torch.Tensor, pose: torch.Tensor, references: torch.Tensor,
                reference_params: torch.Tensor, shared_pose: bool = False,
                previous_choice: torch.Tensor | None = None,
                reference_unit: torch.Tensor | None = None, shares: Shares = Shares(),
                strokes: Strokes | None = None, head_size: float | torch.Tensor = 1.0,
                soft_edge: bool = False, neck: Neck | None = NECK,
                hair: torch.Tensor | None = None) -> WarpOutput:
        """raw [N,11,h,w] (the trunk's output), pose [N,Q] (pose code), references [N or 1,R,4,S,S]
        (RGB and mask in [0,1]; 1: the same for every driver), reference_params [N,R,NUM_PARAMS]
        (their expression parameters).
        ``shared_pose``: one set of references [1,R,4,S,S] for every driver, each showing the head
        at one pose (as a sheet drawn alike does): a frozen character at inference, where one grid
        per driver samples only the drawings chosen (no gradient reaches the choice).
        ``previous_choice``: see :meth:`choose`. ``reference_unit`` [1 or N,R,NUM_PARAMS]: where the
        choice places each reference, in the read-out's unit scale; by default its parameters as
        they are; meta-training and a frozen character give what the read-out makes of a driver
        showing it (:class:`~.latent_pose.FrozenWarpCharacter`), which also places them
        (:meth:`calibrate`) where the base was trained so. ``shares``: how much of the learnt local
        flow and residual are used (a frozen character's choice). ``strokes``: with
        ``shared_pose``, the sheet composed by strokes instead of the learnt regions
        (:mod:`~.strokes`). ``head_size``: the head's size relative to the proxy's, for the head
        motion's parallax (a float, or [N,1,1,1] per sample in meta-training); ``soft_edge``: the
        head's depth falls to its outline linearly; ``neck``: where the roll fades over a neck,
        leaving the body still, or None (see :func:`~.head_motion.head_motion_grid`); ``hair``
        [R,1,h,h]: with a ``neck``, for a
        frozen character, how much of each drawing hangs below the head and turns with it
        (:mod:`~.hair`), at the model's side."""
        # the batch size read off the pose code, not the trunk's output: a frozen graph that uses
        # none of the trunk's answers (no local flow, no residual, composed by strokes) then
        # leaves the trunk out
        n, (_, r, _, side, _) = pose.shape[0], references.shape
        unit = self.readout(pose)  # [N,P]
        driver_params = from_unit(unit)
        if reference_unit is None:
            reference_unit = to_unit(reference_params)
        elif self.calibrated_pose:
            reference_params = self.calibrate(reference_params, reference_unit)
        choice = self.choose(unit, reference_unit, previous_choice,
                             None if strokes is None else strokes.clash)  # [N,4,R]

        def up(x):
            return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)

        regions = softmax_channels(raw[:, REGIONS] * self.sharpening(REGION_SHARPENING))
        alpha = shares.residual * torch.sigmoid(raw[:, ALPHA] + ALPHA_BIAS)  # [N,1,h,w]

        # where each output point is found, at the model's resolution (enlarged to the side later)
        points, shown = identity_grid(self.resolution, raw.device)[None], None  # [1,h,h,2]
        if shares.local_flow:
            flow = (shares.local_flow * self.max_flow) * torch.tanh(raw[:, FLOW]).permute(0, 2, 3, 1)  # [N,h,h,2]
            points = points + (flow if self.training else flow * self.flow_reach)
        if shared_pose and self.training:
            raise ValueError("shared_pose samples only the chosen drawings: it is for inference")

        def moved_from(pose: torch.Tensor, taken: torch.Tensor | None = None) -> torch.Tensor:
            """[N,G,NUM_PARAMS] poses of the drawings ``taken`` [N,G] -> [N,G,h,h,2] where each
            point is found in each; at inference the figure's placement steadied
            (head_motion.STEADY_OFFSET), and the hair of a frozen character's drawings turned
            with the head."""
            hangs = None if hair is None or taken is None else (lambda found: look_up(stacked(hair), found, taken))
            return head_motion_grid(points, driver_params, pose, head_size, soft_edge, steady=not self.training,
                                    neck=neck, hair=hangs)

        if not self.training and references.shape[0] == 1:  # a frozen character
            # Each region takes only its chosen drawing: at inference the choice is one-hot to float
            # precision (CHOICE_SHARPENING), so sampling all R drawings and weighing them by it
            # gave the same picture for twice the work (Mina's frame in onnxruntime on the CPU:
            # 31.0 -> 27.4 ms, the gather of four drawings' textures included). The references'
            # texture stays a constant, which onnxruntime folds: made per driver, it upsampled the
            # references every frame (800 ms of an 840 ms frame for a procedural demo character).
            taken = choice.argmax(-1)  # [N,4]
            stack = stacked(self.texture(references[0]))  # [1,4,R*S',S']
            if shared_pose:  # one grid for every drawing of the sheet: [N,1,h,h,2]
                moved = moved_from(reference_params[:, :1], taken[:, REST:])
            else:  # each region's drawing moved from its own pose
                chosen = torch.gather(reference_params, 1, taken[..., None].expand(-1, -1, reference_params.shape[-1]))
                moved = moved_from(chosen, taken)  # [N,4,h,h,2]
            grid = enlarged(moved[:, -1], side)[:, None]  # [N,1,S,S,2]: the rest of the face's
            copied = sample_drawings(stack, grid, taken[:, REST:]).squeeze(2).transpose(0, 1)  # [N,4,S,S]
            if strokes is None:  # the eyes and the mouth laid over it; a sheet's one grid serves every region
                moved = moved.expand(-1, REST + 1, -1, -1, -1)
                copied, shown = self.features_in_windows(copied, stack, regions, moved, taken)
            elif strokes.whole:  # every region keeps the rest's drawing (Mina's sheet): that one alone
                shown = (1 - self.leans)[None, :, None, None].expand(n, -1, side, side)
            else:  # the strokes each of the eyes and the mouth takes from its own drawing, over it
                over = strokes_taken(stack, taken, strokes, grid[:, 0])
                copied = copied if over is None else copied + over
                # where each region's drawing shows, to inspect (an exported graph leaves it out)
                shown = self.stroke_weights(strokes.maps, taken, grid[:, 0])
        else:
            references = references.expand(n, -1, -1, -1, -1)  # given once for every driver, or per driver
            # sum over regions of region x choice; a MatMul (onnxruntime's Einsum took 1.2 ms here)
            weights = (choice.transpose(1, 2) @ up(regions).flatten(2)).view(n, r, side, side)  # [N,R,S,S]
            moved = moved_from(reference_params)  # [N,R,h,h,2]
            grid = enlarged(moved.flatten(0, 1), side)
            texture = self.texture(references.flatten(0, 1))
            # beyond a drawing's edge, at inference its edge's pixels; in training nothing, as the
            # base was trained
            warped = F.grid_sample(texture, grid if self.training else within(grid, texture.shape[-1]),
                                   mode="bilinear", padding_mode="zeros", align_corners=False)  # [N*R,4,S,S]
            copied = (warped.view(n, r, 4, side, side) * weights[:, :, None]).sum(1)  # [N,4,S,S]
        if not shares.residual:
            return WarpOutput(copied[:, :3], copied[:, 3:], alpha, regions, choice, unit, shown)
        a = up(alpha)
        rgb = a * (torch.tanh(up(raw[:, RESIDUAL])) * 0.75 + 0.5) + (1 - a) * copied[:, :3]
        mask = a * torch.sigmoid(up(raw[:, MASK])) + (1 - a) * copied[:, 3:]
        return WarpOutput(rgb, mask, alpha, regions, choice, unit, shown)
