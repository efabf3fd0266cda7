"""Procedural heads: deterministic, each parameter moves its own region, the mask covers the figure;
the classic world draws exactly as the shipped base model saw it; every drawing style of the styled
world shows every expression."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from puppet import params
from puppet.heads import HAIR_STYLES, PROXY, Identity, render_head
from puppet.heads.style import BODY_STYLES, EYE_STYLES, HEADWEAR, MOUTH_STYLES, SHUT_STYLES

SIZE = 128
CLASSIC_DIGESTS = Path(__file__).parent / "data" / "classic_heads.json"  # renders of the original code


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


def _classic_cases():
    """(name, seed, params, size): proxy and held-out seeds at rest, at extremes and at random draws."""
    rng = np.random.default_rng(2024)
    fixed = {"rest": {}, "shut": {"eye_open_l": 0.0, "eye_open_r": 0.0},
             "open": {"mouth_open": 1.0, "smile": 0.6, "eye_open_l": 1.3, "brow_l": 1.0},
             "turn": {"yaw": 40.0, "pitch": -20.0, "roll": 15.0, "gaze_x": 0.8}}
    cases = []
    for seed in (0, 1, 7, 21, 42, 1_000_013):
        for name, values in fixed.items():
            cases.append((f"{seed}-{name}", seed, params.make(**values), 128))
        cases.append((f"{seed}-random", seed, params.sample(rng), 128))
    for size in (64, 256):
        cases.append((f"5-random-{size}", 5, params.sample(rng), size))
    return cases


def _digest(out) -> str:
    h = hashlib.sha256(out.rgb.tobytes())
    h.update(out.mask.tobytes())
    return h.hexdigest()[:16]


def test_classic_world_draws_exactly_as_before():
    """The shipped base model was trained on these pictures: pixel for pixel, the proxy included."""
    expected = json.loads(CLASSIC_DIGESTS.read_text())
    cases = _classic_cases()
    assert set(expected) == {name for name, *_ in cases}
    changed = [name for name, seed, p, size in cases
               if _digest(render_head(Identity.from_seed(seed), p, size)) != expected[name]]
    assert not changed, f"classic renders changed: {changed}"
    assert Identity.from_seed(9, world="classic") == Identity.from_seed(9)


def test_worlds_share_seeds_and_the_proxy():
    for world in ("classic", "styled"):
        assert Identity.from_seed(0, world) is PROXY
    styled = Identity.from_seed(9, "styled")
    assert styled == Identity.from_seed(9, "styled") and styled != Identity.from_seed(9)
    assert styled.hair_style == Identity.from_seed(9).hair_style  # the same person, drawn otherwise
    p = params.sample(np.random.default_rng(1))
    a, b = render_head(styled, p, SIZE), render_head(Identity.from_seed(9, "styled"), p, SIZE)
    assert a.rgb.tobytes() == b.rgb.tobytes() and a.mask.tobytes() == b.mask.tobytes()
    with pytest.raises(ValueError, match="styled"):
        Identity.from_seed(9, "cubist")


def test_styled_world_covers_every_style():
    styles = [Identity.from_seed(s, "styled").style for s in range(1, 400)]
    for field, options in (("eyes", EYE_STYLES), ("shut", SHUT_STYLES), ("mouth", MOUTH_STYLES),
                           ("body", BODY_STYLES), ("headwear", HEADWEAR)):
        assert {getattr(st, field) for st in styles} == set(options), field
    assert {st.outline for st in styles} >= {0.0, 2.6}
    assert 0.25 < np.mean([st.yaw != 0 for st in styles]) < 0.65  # three-quarter rest poses
    assert 0.2 < np.mean([st.face_shade == 1.0 for st in styles]) < 0.5  # flat fills
    faces = [Identity.from_seed(s, "styled").skin for s in range(1, 400)]
    assert sum(min(f) > 240 for f in faces) > 20  # white faces
    assert sum(f[1] > f[0] + 20 for f in faces) > 5  # green ones


@pytest.mark.parametrize("seed", range(1, 41))
def test_every_styled_identity_renders(seed):
    ident = Identity.from_seed(seed, "styled")
    out = render_head(ident, params.sample(np.random.default_rng(seed)), SIZE)
    assert out.rgb.shape == (SIZE, SIZE, 3) and out.rgb.dtype == np.uint8
    assert out.mask.dtype == np.float32 and 0 <= out.mask.min() and out.mask.max() <= 1
    rest = render_head(ident, params.neutral(), SIZE)
    for name in ("eye_l", "eye_r", "nose", "mouth"):
        x, y = rest.points[name]
        assert rest.mask[int(y), int(x)] > 0.99, name
    assert rest.mask[0, 0] < 0.01 and 0.05 < (rest.mask > 0.5).mean() < 0.75
    if ident.style.body == "none":
        assert rest.mask[-1].max() < 0.01  # a head without neck or body


SHUT_EYES = {"eye_open_l": 0.0, "eye_open_r": 0.0}


def _changes(ident, values) -> dict:
    """Changed pixels near the eyes (the lesser eye) and the mouth when ``values`` leave rest:
    within 0.1 of the picture, and within 0.06 (the other features' own territory)."""
    rest, moved = render_head(ident, params.neutral(), SIZE), _draw_ident(ident, **values)
    diff = _changed(rest, moved)
    out = {"background": int(diff[rest.mask < 0.01].sum())}
    for r, tag in ((0.1, ""), (0.06, "_core")):
        out["eyes" + tag] = min(int(diff[_near(rest, k, r * SIZE)].sum()) for k in ("eye_l", "eye_r"))
        out["mouth" + tag] = int(diff[_near(rest, "mouth", r * SIZE)].sum())
    return out


def _draw_ident(ident, **values):
    return render_head(ident, params.make(**values), SIZE)


def test_expressions_read_in_50_random_styled_identities():
    for seed in np.random.default_rng(5).integers(1, 10**6, 50):
        ident = Identity.from_seed(int(seed), "styled")
        shut = _changes(ident, SHUT_EYES)
        assert shut["eyes"] >= 15 and shut["mouth_core"] == 0, (seed, ident.style, shut)
        wide = _changes(ident, {"mouth_open": 1.0})
        assert wide["mouth"] >= 40 and wide["eyes_core"] == 0, (seed, ident.style, wide)
        assert shut["background"] == wide["background"] == 0


def _styled_base():
    """A frontal styled identity without glasses, for trying each style on the same face."""
    return replace(Identity.from_seed(2, "styled"), glasses=False)


@pytest.mark.parametrize("shut", SHUT_STYLES)
@pytest.mark.parametrize("eyes", EYE_STYLES)
def test_every_eye_style_shuts_widens_and_looks(eyes, shut):
    base = _styled_base()
    ident = replace(base, style=replace(base.style, eyes=eyes, shut=shut))
    for values, least in ((SHUT_EYES, 15), ({"eye_open_l": 1.3, "eye_open_r": 1.3}, 3), ({"gaze_x": 1.0}, 3)):
        if eyes == "dot" and "gaze_x" in values:
            least = 2  # a dot moves by a fraction of its own size
        got = _changes(ident, values)
        assert got["eyes"] >= least and got["mouth_core"] == 0, (eyes, shut, values, got)
    half, shut_out = _draw_ident(ident, eye_open_l=0.4, eye_open_r=0.4), _draw_ident(ident, **SHUT_EYES)
    assert _changed(half, shut_out)[_near(half, "eye_l", 0.1 * SIZE)].sum() >= 5  # closing is gradual


@pytest.mark.parametrize("mouth", MOUTH_STYLES)
def test_every_mouth_style_opens_smiles_and_widens(mouth):
    base = _styled_base()
    ident = replace(base, style=replace(base.style, mouth=mouth))
    rest = render_head(ident, params.neutral(), SIZE)
    for a, b, least in (({}, {"mouth_open": 1.0}, 40), ({}, {"mouth_open": 0.4}, 15),
                        ({"smile": 1.0}, {"smile": -1.0}, 15), ({"mouth_width": -1.0}, {"mouth_width": 1.0}, 8),
                        ({"mouth_open": 0.7, "smile": 1.0}, {"mouth_open": 0.7, "smile": -1.0}, 8)):
        diff = _changed(_draw_ident(ident, **a), _draw_ident(ident, **b))
        assert diff[_near(rest, "mouth", 0.1 * SIZE)].sum() >= least, (mouth, a, b)
        assert not diff[_near(rest, "eye_l", 0.06 * SIZE) | _near(rest, "eye_r", 0.06 * SIZE)].any()


@pytest.mark.parametrize("brows", ["classic", "line", "short"])
def test_every_brow_style_moves(brows):
    base = _styled_base()
    ident = replace(base, style=replace(base.style, brows=brows, fringe_drop=0.0))
    diff = _changed(_draw_ident(ident, brow_l=1.0, brow_r=1.0), _draw_ident(ident, brow_l=-1.0, brow_r=-1.0))
    rest = render_head(ident, params.neutral(), SIZE)
    assert diff[_near(rest, "brow_l", 0.1 * SIZE)].sum() >= 5
    assert not diff[_near(rest, "mouth", 0.06 * SIZE)].any()


def test_three_quarter_identities_turn_from_their_rest_pose():
    base = _styled_base()
    front = replace(base, style=replace(base.style, yaw=0.0))
    turned = replace(base, style=replace(base.style, yaw=25.0))
    rest_front, rest_turned = render_head(front, params.neutral(), SIZE), render_head(turned, params.neutral(), SIZE)
    assert rest_turned.points["nose"][0] > rest_front.points["nose"][0] + 3
    # The yaw parameter adds to the rest turn: -25 brings the head back to facing the camera.
    back = render_head(turned, params.make(yaw=-25.0), SIZE)
    assert back.points["nose"][0] == pytest.approx(rest_front.points["nose"][0], abs=0.01)
