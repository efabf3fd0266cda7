"""Composition of a sheet by strokes (export/models/strokes.py), on drawn shapes."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from export.models.strokes import DOWNSAMPLE, stroke_maps, strokes_taken
from export.models.warp_head import WarpHead, stacked
from export.models.head_motion import identity_grid

SIDE = 128  # the toon model's
SKIN = (0.9, 0.75, 0.6)
LEFT_EYE, RIGHT_EYE, MOUTH = (44, 56), (84, 56), (64, 92)


def _face(brow_lift: int = 0, mouth_open: bool = False, join_left_eye_to_mouth: bool = False) -> np.ndarray:
    """[4,S,S] in [0,1]: a flat face with two eyes, two brows and a mouth; the left brow lifted
    by ``brow_lift`` pixels."""
    img = np.zeros((SIDE, SIDE, 3), np.float32)
    cv2.circle(img, (64, 64), 56, SKIN, -1)
    for (x, y), lift in ((LEFT_EYE, brow_lift), (RIGHT_EYE, 0)):
        cv2.circle(img, (x, y), 6, (0.1, 0.1, 0.1), -1)
        cv2.line(img, (x - 12, y - 16 - lift), (x + 12, y - 16 - lift), (0.2, 0.1, 0.05), 3)
    if mouth_open:
        cv2.ellipse(img, MOUTH, (12, 8), 0, 0, 360, (0.5, 0.1, 0.1), -1)
    else:
        cv2.line(img, (MOUTH[0] - 12, MOUTH[1]), (MOUTH[0] + 12, MOUTH[1]), (0.3, 0.1, 0.1), 2)
    if join_left_eye_to_mouth:  # one line from the eye down to the mouth
        cv2.line(img, LEFT_EYE, MOUTH, (0.1, 0.1, 0.1), 2)
    mask = np.zeros((SIDE, SIDE), np.float32)
    cv2.circle(mask, (64, 64), 56, 1.0, -1)
    return np.concatenate([img.transpose(2, 0, 1), mask[None]])


def _regions() -> torch.Tensor:
    """[3,S,S]: the learnt regions' stand-in, each covering its feature only (an eye's region
    stops below its brow)."""
    cover = np.zeros((3, SIDE, SIDE), np.float32)
    for g, (x, y) in enumerate((LEFT_EYE, RIGHT_EYE, MOUTH)):
        cv2.circle(cover[g], (x, y), 10, 1.0, -1)
    return torch.from_numpy(cover)


def _at_sheet_side(m: torch.Tensor) -> np.ndarray:
    return np.kron(m.numpy(), np.ones((DOWNSAMPLE, DOWNSAMPLE))) > 0.5


def test_an_eye_takes_its_whole_brow_though_its_region_stops_below_it():
    sheet = torch.from_numpy(np.stack([_face(), _face(brow_lift=8)]))
    maps, clash, _ = stroke_maps(sheet, _regions())
    assert maps.shape == (3, 2, 2, SIDE // DOWNSAMPLE, SIDE // DOWNSAMPLE)
    left = _at_sheet_side(maps[0, 1, 0])
    differs = np.abs(sheet[1] - sheet[0]).amax(0).numpy() > 0.12
    assert differs.sum() > 20 and left[differs].all()  # the brow where it was and where it is
    assert not left[:, 64:].any()  # and nothing of the right half
    assert not maps[1:, 1, 0].any() and not maps[:, 0, 0].any()
    assert not clash.any()


def test_a_stroke_that_joins_two_regions_clashes():
    """An eye and the mouth joined by one line that only one drawing has: neither region can take
    that drawing whole, so both clash with it; the other eye is free."""
    sheet = torch.from_numpy(np.stack([_face(), _face(mouth_open=True, join_left_eye_to_mouth=True)]))
    _, clash, _ = stroke_maps(sheet, _regions())
    assert clash[0, 1, 0] == 1 and clash[2, 1, 0] == 1
    assert clash[1, 1, 0] == 0
    _, apart, _ = stroke_maps(torch.from_numpy(np.stack([_face(), _face(mouth_open=True)])), _regions())
    assert not apart.any()


def test_stroke_weights_draw_each_stroke_from_its_regions_drawing():
    sheet = torch.from_numpy(np.stack([_face(), _face(brow_lift=8), _face(mouth_open=True)]))
    maps, _, _ = stroke_maps(sheet, _regions())
    grid = identity_grid(SIDE)[None]
    taken = torch.tensor([[1, 0, 2, 0]])  # left eye from the lifted brow, mouth from the open mouth
    weights = WarpHead.stroke_weights(maps, taken, grid)[0]  # [4,S,S]
    torch.testing.assert_close(weights.sum(0), torch.ones(SIDE, SIDE))
    picture = sum(weights[g] * sheet[int(taken[0, g])] for g in range(4))
    truth = torch.from_numpy(_face(brow_lift=8, mouth_open=True))
    assert float((picture - truth).abs().max()) < 0.02
    rest_only = WarpHead.stroke_weights(maps, torch.tensor([[0, 0, 0, 0]]), grid)[0]
    assert float(rest_only[3].min()) == 1.0


def test_strokes_composed_on_the_sheet_and_sampled_once_draw_what_composing_after_sampling_draws():
    """The graph composes the strokes the eyes and the mouth take in the box where strokes lie, on
    the sheet, samples that once and adds it to the rest's drawing sampled alone; composing the
    sampled drawings draws the same, at rest and moved. Beyond the box it adds nothing."""
    sheet = torch.from_numpy(np.stack([_face(), _face(brow_lift=8), _face(mouth_open=True)]))
    strokes = stroke_maps(sheet, _regions())
    r0, r1, c0, c1 = strokes.box
    assert 0 < r0 < r1 < SIDE // DOWNSAMPLE and 0 < c0 < c1 < SIDE // DOWNSAMPLE
    texture = torch.nn.functional.interpolate(sheet, scale_factor=2, mode="bilinear", align_corners=False)
    taken = torch.tensor([[1, 0, 2, 0], [0, 0, 0, 0]])  # left eye lifted, mouth open; then rest alone
    for shift in (0.0, 0.1):
        grid = (identity_grid(SIDE) + torch.tensor([shift, -shift / 2]))[None].expand(2, -1, -1, -1)
        over = strokes_taken(stacked(texture), taken, strokes, grid)  # [2,4,S,S]
        assert float(over[1].abs().amax()) == 0  # the rest's drawing alone
        box = torch.zeros(SIDE, SIDE, dtype=torch.bool)
        box[r0 * DOWNSAMPLE:r1 * DOWNSAMPLE, c0 * DOWNSAMPLE:c1 * DOWNSAMPLE] = True  # at rest
        assert shift or float(over[0][:, ~box].abs().amax()) == 0
        rest = torch.nn.functional.grid_sample(texture[taken[:, 3]], grid, align_corners=False)
        before = rest + over
        drawings = torch.nn.functional.grid_sample(texture[taken.flatten()], grid.repeat_interleave(4, 0),
                                                   align_corners=False).view(2, 4, 4, SIDE, SIDE)
        after = (drawings * WarpHead.stroke_weights(strokes.maps, taken, grid)[:, :, None]).sum(1)
        assert float((before - after).abs().amax()) < 0.01, shift  # measured 3e-8 at rest, 0.0025 moved
        assert float(over[0].abs().mean()) > 0.005  # 0.007: the strokes taken show
