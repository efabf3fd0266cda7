"""Procedural heads: deterministic, each parameter moves its own region, the mask covers the figure."""

from __future__ import annotations

import numpy as np
import pytest

from puppet import params
from puppet.heads import HAIR_STYLES, Identity, render_head

SIZE = 128


def _draw(seed=0, size=SIZE, **values):
    return render_head(Identity.from_seed(seed), params.make(**values), size)


def _changed(a, b, threshold=40):
    """[S,S] bool: pixels that visibly differ."""
    return np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max(axis=2) > threshold


def _near(out, name, radius):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    x, y = out.points[name]
    return (xx - x) ** 2 + (yy - y) ** 2 < radius ** 2


def test_deterministic_and_seeded():
    p = params.sample(np.random.default_rng(3))
    a = render_head(Identity.from_seed(42), p, SIZE)
    b = render_head(Identity.from_seed(42), p.copy(), SIZE)
    assert a.rgb.tobytes() == b.rgb.tobytes() and a.mask.tobytes() == b.mask.tobytes()
    c = render_head(Identity.from_seed(43), p, SIZE)
    assert np.abs(a.rgb.astype(int) - c.rgb.astype(int)).mean() > 5


def test_variety_of_identities():
    idents = [Identity.from_seed(s) for s in range(1, 400)]
    assert {i.hair_style for i in idents} == set(HAIR_STYLES) and len(HAIR_STYLES) >= 8
    assert len({i.skin for i in idents}) > 50 and len({i.hair for i in idents}) > 50
    assert 0.1 < np.mean([i.glasses for i in idents]) < 0.35


@pytest.mark.parametrize("seed", [0, 7, 21])
@pytest.mark.parametrize("name,value,region,elsewhere", [
    ("eye_open_l", 0.0, "eye_l", ["eye_r", "mouth"]),
    ("eye_open_r", 0.0, "eye_r", ["eye_l", "mouth"]),
    ("mouth_open", 1.0, "mouth", ["eye_l", "eye_r"]),
    ("smile", 1.0, "mouth", ["eye_l", "eye_r"]),
    ("mouth_width", -1.0, "mouth", ["eye_l", "eye_r"]),
    ("brow_l", 1.0, "brow_l", ["brow_r", "mouth"]),
    ("brow_r", -1.0, "brow_r", ["brow_l", "mouth"]),
    ("gaze_x", 1.0, "eye_l", ["mouth"]),
])
def test_each_expression_changes_its_region_only(seed, name, value, region, elsewhere):
    rest, moved = _draw(seed), _draw(seed, **{name: value})
    diff = _changed(rest, moved)
    assert diff[_near(rest, region, 0.1 * SIZE)].sum() >= 4, f"{name} does not change {region}"
    for other in elsewhere:
        assert diff[_near(rest, other, 0.06 * SIZE)].sum() == 0, f"{name} changes {other}"
    background = rest.mask < 0.01
    assert not diff[background].any()


def test_pose_signs():
    rest = _draw()
    right, left = _draw(yaw=30), _draw(yaw=-30)
    for name in ("eye_l", "eye_r", "mouth", "nose"):
        assert right.points[name][0] > rest.points[name][0] + 3 > left.points[name][0] + 6
    up = _draw(pitch=25)
    assert up.points["mouth"][1] < rest.points["mouth"][1] - 2
    roll = _draw(roll=25)  # clockwise on screen: the left eye goes up relative to the right one
    (lx, ly), (rx, ry) = roll.points["eye_l"], roll.points["eye_r"]
    assert np.degrees(np.arctan2(ry - ly, rx - lx)) == pytest.approx(25, abs=4)
    shifted = _draw(offset_x=0.1, offset_y=-0.05)
    assert shifted.points["nose"][0] == pytest.approx(rest.points["nose"][0] + 0.1 * SIZE, abs=0.5)
    assert shifted.points["nose"][1] == pytest.approx(rest.points["nose"][1] - 0.05 * SIZE, abs=0.5)
    big = _draw(scale=1.2)
    gap = lambda o: o.points["eye_r"][0] - o.points["eye_l"][0]  # noqa: E731
    assert gap(big) == pytest.approx(1.2 * gap(rest), rel=0.02)


def test_yaw_hides_the_far_side():
    rest, turned = _draw(7), _draw(7, yaw=40)
    # Turning to the screen right shows more face on the left of the nose than on its right.
    nose_x = turned.points["nose"][0]
    cols = np.nonzero(turned.mask[int(turned.points["nose"][1])] > 0.5)[0]
    assert nose_x - cols.min() > cols.max() - nose_x
    assert np.abs(rest.rgb.astype(int) - turned.rgb.astype(int)).max(axis=2).astype(bool).mean() > 0.05


def test_mask_covers_the_character():
    for seed in range(1, 13):
        out = _draw(seed)
        m = out.mask
        assert m.dtype == np.float32 and m.shape == (SIZE, SIZE) and 0 <= m.min() and m.max() <= 1
        for name in ("eye_l", "eye_r", "nose", "mouth"):
            x, y = out.points[name]
            assert m[int(y), int(x)] > 0.99
        assert m[-1, SIZE // 2] > 0.99  # shoulders reach the bottom edge
        assert m[0, 0] < 0.01 and m[0, -1] < 0.01  # background corners
        assert 0.25 < (m > 0.5).mean() < 0.75


@pytest.mark.parametrize("size", [64, 128, 256])
def test_sizes_and_out_of_range(size):
    p = params.neutral() + 100.0  # far outside every range: clipped, never a crash
    out = render_head(Identity.from_seed(5), p, size)
    assert out.rgb.shape == (size, size, 3) and out.rgb.dtype == np.uint8
    clipped = render_head(Identity.from_seed(5), params.clip(p), size)
    assert out.rgb.tobytes() == clipped.rgb.tobytes()
    with pytest.raises(ValueError):
        render_head(Identity.from_seed(5), params.neutral(), 8)
