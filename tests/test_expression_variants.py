"""Shut eyes, winks and an open mouth drawn into one drawing: found where the features are, read
back as the expression they are meant to show, and a one-image character blinks and talks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import ADVENTURER, DRAWN
from PIL import Image

from export import expression_variants as V
from export.train.data import HELD_OUT_SEEDS
from export.train.references import reference_frames
from puppet import params as P
from puppet.expression_reader import default_reader
from puppet.heads import Identity, render_head
from puppet.sources import CropRule, load_sources, read_image

SIDE = 256
# Held-out identities whose eyes and mouth are both found (of the first 16 all have their eyes
# found, 15 their mouths), and two whose eyes are one stroke with their glasses' thick frame.
FOUND = (0, 4, 5)
IN_GLASSES = (3, 7)
# Drawings of the test data whose eyes are found (of nine rest drawings: not Sora, whose glasses'
# bar is drawn over her lids; all nine mouths are found). Doyun's far eye touches her glasses'
# frame and is found as the near one's mirror image.
DRAWINGS_WITH_EYES = ("big-smile/Doyun_0.png", "big-smile/Minji_0.png", "big-smile/Yerin_0.png", "lorelei/Hana_0.png", "lorelei/Jiwoo_0.png",
                      "micah/Ara_0.png", "micah/Jun_0.png", "micah/Seoyeon_0.png")
ALL = {"blink", "wink left", "wink right", "mouth open"}
WITH_MOUTH = {f"{eyes} + mouth open" for eyes in ("blink", "wink left", "wink right")}


def rest_render(i: int) -> tuple[np.ndarray, dict]:
    ident = Identity.from_seed(HELD_OUT_SEEDS + i, "classic")
    frame = reference_frames(ident, P.neutral()[None], SIDE)[0]
    rgb = ((frame[:3] * frame[3:] + 1 - frame[3:]).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    return rgb, render_head(ident, P.neutral(), SIDE).points


@pytest.mark.parametrize("i", FOUND)
def test_the_features_are_found_where_the_renderer_drew_them(i):
    rgb, points = rest_render(i)
    marks = V.find_marks(rgb)
    for mask, name in ((marks.eye_l, "eye_l"), (marks.eye_r, "eye_r"), (marks.mouth, "mouth")):
        assert mask is not None, name
        centre = V._centre(mask)
        assert np.hypot(*(centre - np.asarray(points[name]))) < SIDE / 25, name


@pytest.mark.parametrize("i", FOUND[:1])
def test_each_variant_changes_only_its_feature(i):
    rgb, _ = rest_render(i)
    marks = V.find_marks(rgb)
    drawn = {v.preset: v for v in V.variants(rgb, P.neutral(), ALL, marks)}
    assert set(drawn) == ALL | WITH_MOUTH
    reach = SIDE // 16  # the paint over the marks and the lid's or mouth's outline around them

    def near(masks):
        out = np.zeros(rgb.shape[:2], bool)
        for m in masks:
            x0, y0, x1, y1 = V._extent(m)
            out[max(0, y0 - reach):y1 + reach, max(0, x0 - reach):x1 + reach] = True
        return out

    features = {"blink": [marks.eye_l, marks.eye_r], "wink left": [marks.eye_l], "wink right": [marks.eye_r],
                "mouth open": [marks.mouth]}
    for preset, variant in drawn.items():
        parts = preset.split(" + ")
        changed = np.abs(variant.rgb.astype(int) - rgb).max(-1) > 8
        for part in parts:  # something was drawn at each of its features
            assert (changed & near(features[part])).sum() > 40, (preset, part)
        assert not (changed & ~near([m for part in parts for m in features[part]])).any(), preset
        expected = P.neutral()
        for part in parts:
            expected = P.with_preset(expected, part, add=True)
        assert np.allclose(variant.params, expected), preset


@pytest.mark.parametrize("name", DRAWINGS_WITH_EYES)
def test_the_expression_reader_reads_the_drawn_expressions(name, tmp_path):
    """The project's expression reader (trained apart, on labelled drawings) reads each drawing's
    variants as the expression they are meant to show: measured 0.00-0.28 for shut eyes against
    0.91-1.04 open, 0.32-0.60 for the open mouth against 0.00."""
    path = DRAWN / name
    rgb, alpha = read_image(path)
    # read as a set of four (the reader reads each image beside the set's median)
    drawn = [v for v in V.variants(V.over_white(rgb, alpha), P.neutral(), {"blink", "wink left", "mouth open"})
             if " + " not in v.preset]
    assert [v.preset for v in drawn] == ["blink", "wink left", "mouth open"]
    paths = [path]
    for v in drawn:
        paths.append(tmp_path / f"{v.preset}.png")
        Image.fromarray(v.rgb if alpha is None else np.dstack([v.rgb, alpha])).save(paths[-1])
    sources = load_sources(paths, 128, rule=CropRule.for_driving("proxy"))
    read = default_reader().read(sources.images, sources.masks).values
    l, r, mouth = (read[:, P.INDEX[k]] for k in ("eye_open_l", "eye_open_r", "mouth_open"))
    assert l[0] > 0.8 and r[0] > 0.8 and mouth[0] < 0.1  # the drawing as it is
    assert l[1] < P.SHUT_EYE and r[1] < P.SHUT_EYE  # blink
    assert l[2] < P.SHUT_EYE and r[2] > 0.8  # wink left: the on-screen left eye alone
    assert mouth[3] >= P.OPEN_MOUTH and l[3] > 0.8 and r[3] > 0.8


def test_an_eye_touching_a_glasses_frame_is_found_as_its_twins_mirror_image():
    """Doyun's far eye is one stroke with her glasses' frame: it is found where the near eye's
    mirror image matches, without the frame (which a closed lid would otherwise erase). Sora's
    frame is drawn over her lids: no eyes are drawn rather than a frame cut through."""
    rgb, alpha = read_image(DRAWN / "big-smile" / "Doyun_0.png")
    drawing = V.over_white(rgb, alpha)
    marks = V.find_marks(drawing)
    assert marks.eye_l is not None and marks.eye_r is not None
    near, far = marks.eye_l, marks.eye_r
    assert V._mirror_image(drawing, near, marks.skin, marks.face_width) is not None
    frame_colour = np.array([200, 150, 30])  # the frame's gold, far from the eye's dark brown
    assert (np.abs(drawing[far].astype(int) - frame_colour).max(-1) < 50).mean() < 0.05
    x0, y0, x1, y1 = V._extent(far)
    assert x1 - x0 < 0.2 * marks.face_width and y1 - y0 < 0.2 * marks.face_width
    rgb, alpha = read_image(DRAWN / "lorelei" / "Sora_0.png")
    sora = V.find_marks(V.over_white(rgb, alpha))
    assert sora.eye_l is None and sora.eye_r is None and sora.mouth is not None


@pytest.mark.parametrize("i", IN_GLASSES)
def test_eyes_inside_a_glasses_frame_shut_and_the_frame_stays_as_drawn(i):
    """Each eye touches the thick frame that joins both lenses: it is found inside its lens, where
    the renderer drew it, and shutting it paints over its iris and white (measured: 48-62 % of its
    pixels neither skin nor ink, 8-10 % shut) and leaves the frame as drawn, for a blink and for
    each wink."""
    rgb, points = rest_render(i)
    marks = V.find_marks(rgb)
    assert marks.frame is not None and marks.eye_l is not None and marks.eye_r is not None
    for mask, name in ((marks.eye_l, "eye_l"), (marks.eye_r, "eye_r")):
        assert np.hypot(*(V._centre(mask) - np.asarray(points[name]))) < SIDE / 25, name
        assert not (mask & marks.frame).any()
    ink = np.array(V._ink(rgb, marks.frame), np.float32)

    def coloured(picture: np.ndarray, eye: np.ndarray) -> float:  # the share neither skin nor ink
        c = picture[eye].astype(np.float32)
        return float(((np.linalg.norm(c - marks.skin, axis=-1) > V.MARK_CONTRAST)
                      & (np.linalg.norm(c - ink, axis=-1) > V.MARK_CONTRAST)).mean())

    drawn = {v.preset: v.rgb for v in V.variants(rgb, P.neutral(), {"blink", "wink left", "wink right"}, marks)}
    assert set(drawn) == {"blink", "wink left", "wink right"}
    shut = {"blink": (True, True), "wink left": (True, False), "wink right": (False, True)}
    for preset, picture in drawn.items():
        assert (picture[marks.frame] == rgb[marks.frame]).all(), preset
        for eye, is_shut in zip((marks.eye_l, marks.eye_r), shut[preset]):
            assert coloured(rgb, eye) > 0.4
            assert (coloured(picture, eye) < 0.15) == is_shut, preset


@pytest.mark.parametrize("name", ["mina_0.png", "seojun_0.png"])
def test_eyes_under_a_brow_are_found_by_their_whites(name, tmp_path):
    """DiceBear's adventurer style draws each brow over its eye's outline, one stroke with it: the
    eyes are found by their whites, the blink leaves the brows as drawn but for the paint's soft
    edge, and the expression reader reads the blink's eyes shut (measured 0.14 / 0.20 and
    0.03 / 0.06; 1.0 at rest)."""
    path = ADVENTURER / name
    rgb, alpha = read_image(path)
    drawing = V.over_white(rgb, alpha)
    marks = V.find_marks(drawing)
    assert marks.eye_l is not None and marks.eye_r is not None and marks.mouth is not None
    blink = next(v for v in V.variants(drawing, P.neutral(), {"blink"}, marks) if v.preset == "blink")
    changed = np.abs(blink.rgb.astype(int) - drawing).max(-1) > 8
    soft_edge = max(3, int(round(marks.face_width / 40))) // 2 + 2
    for eye in (marks.eye_l, marks.eye_r):
        x0, _, x1, _ = V._extent(eye)
        white_top = np.nonzero(eye & (drawing.min(-1) > 230))[0].min()  # where the brow ends
        above = changed[:white_top - soft_edge, x0:x1 + 1]
        assert not above.any(), f"changed {above.sum()} pixels of the brow"
    Image.fromarray(np.dstack([blink.rgb, alpha])).save(tmp_path / "blink.png")
    sources = load_sources([path, tmp_path / "blink.png"], 128, rule=CropRule.for_driving("proxy"))
    read = default_reader().read(sources.images, sources.masks).values
    l, r = read[:, P.INDEX["eye_open_l"]], read[:, P.INDEX["eye_open_r"]]
    assert l[0] > 0.8 and r[0] > 0.8 and l[1] < P.SHUT_EYE and r[1] < P.SHUT_EYE


@pytest.mark.parametrize("name", ["mina_0.png", "seojun_0.png"])
def test_a_mouth_drawn_open_opens_wider_as_drawn(name, tmp_path):
    """The adventurer grins are drawn open: the open mouth is the grin itself, taller, in its own
    colours (no ellipse of another style), stopping above the chin's outline, and the reader reads
    it opener than the grin (measured 0.21 -> 0.65 and 0.00 -> 0.54). Mouths drawn closed are
    not taken for open (they get the ellipse)."""
    path = ADVENTURER / name
    rgb, alpha = read_image(path)
    drawing = V.over_white(rgb, alpha)
    marks = V.find_marks(drawing)
    assert V._drawn_open(drawing, marks.mouth)
    opened = V.with_mouth_open(drawing, marks.mouth, marks.skin, marks.face_width)
    assert not (opened == np.array(V.MOUTH_INSIDE, np.uint8)).all(-1).any()
    x0, y0, x1, y1 = V._extent(marks.mouth)
    changed = np.abs(opened.astype(int) - drawing).max(-1) > 8
    rows = np.flatnonzero(changed[:, x0:x1 + 1].any(1))
    assert rows[-1] > y1 + 0.2 * (y1 - y0)  # it opens downwards
    reach = 3 * max(2, round(marks.face_width / 60))  # the paint over the grin and its soft edge
    near = cv2.dilate(marks.mouth.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
    others = V._marks(drawing, marks.skin) & ~near
    assert not (changed & others).any()  # the chin's outline below stays as drawn
    Image.fromarray(np.dstack([opened, alpha])).save(tmp_path / "open.png")
    sources = load_sources([path, tmp_path / "open.png"], 128, rule=CropRule.for_driving("proxy"))
    mouth = default_reader().read(sources.images, sources.masks).values[:, P.INDEX["mouth_open"]]
    assert mouth[1] >= mouth[0] + 0.3
    closed = {line: V.over_white(*read_image(DRAWN / line)) for line in DRAWINGS_WITH_EYES}
    closed["held-out 8"] = rest_render(8)[0]  # a thick line, the face's shading beside it
    for line, drawing in closed.items():
        assert not V._drawn_open(drawing, V.find_marks(drawing).mouth), line


def test_a_drawing_without_a_face_gives_the_reason():
    blank = np.full((256, 256, 3), 255, np.uint8)
    cv2.circle(blank, (128, 128), 80, (200, 120, 90), -1)
    with pytest.raises(V.FeaturesNotFound, match="no face"):
        V.find_marks(blank)


def test_what_is_wanted_is_what_no_image_shows():
    sheet = np.stack([P.with_preset(P.neutral(), name) for name in ("rest", "blink", "mouth open")])
    assert V.wanted(sheet[:1]) == ALL
    assert V.wanted(sheet) == set()
    assert V.wanted(sheet[[0, 2]]) == {"blink", "wink left", "wink right"}
    assert V.wanted(np.stack([P.neutral(), P.with_preset(P.neutral(), "wink left")])) == {"wink right", "mouth open"}


@pytest.mark.parametrize("draw_missing", [True, False])
def test_a_character_made_from_one_drawing_blinks_and_talks(tmp_path, caplog, draw_missing):
    """The shipped base, one drawing: with what is missing drawn into it (the default), the
    character's eyes take the drawn shut eyes and its mouth the drawn open mouth when the driver's
    do, both at once too, and the expression reader reads its pictures so; with
    ``--no-draw-missing`` the one drawing is all it has, and the warnings say what it will not do.
    The bundle says it was made from one image either way."""
    from export.character import CharacterOptions, make_character
    from puppet.assets import DEFAULT_BASE
    from puppet.engine import Engine
    from puppet.pipeline.prepare import DriverPreparer, to_tensor

    path = DRAWN / "micah" / "Seoyeon_0.png"
    with caplog.at_level("INFO", logger="export.character"):
        bundle = make_character(DEFAULT_BASE, [path], tmp_path / "one.puppet",
                                CharacterOptions(name="one", compact=True, draw_missing=draw_missing))
    engine = Engine.load(bundle)
    assert engine.manifest.num_source_images == 1
    if not draw_missing:
        assert engine.drawings == 1
        assert "will not blink" in caplog.text and "will not talk" in caplog.text
        return
    assert "blink, wink left, wink right, mouth open, blink + mouth open" in caplog.text
    assert "will not" not in caplog.text
    # in the order drawn: rest, blink, wink left, wink right, mouth open, then each of the eyes' with it
    assert engine.drawings == 8
    prepare = DriverPreparer(engine.manifest)
    drivers = [("rest",), ("blink",), ("wink left",), ("mouth open",), ("blink", "mouth open")]
    params = []
    for presets in drivers:
        p = P.neutral()
        for name in presets:
            p = P.with_preset(p, name, add=True)
        params.append(p)
    out = engine.run(np.concatenate([to_tensor(prepare.image(None, None, p)) for p in params]))
    taken = out.choice.argmax(-1)  # [driver, (left eye, right eye, mouth, rest of the face)]
    np.testing.assert_array_equal(taken[0], [0, 0, 0, 0])
    assert list(taken[1, :2]) == [1, 1]  # both eyes from the drawn blink
    assert taken[2, 0] in (1, 2) and taken[2, 1] in (0, 2)  # the left eye shut, the right open
    assert taken[3, 2] == 4  # the mouth from the drawn open mouth
    assert list(taken[4, :3]) == [5, 5, 5]  # talking while blinking: both at once
    # what the character shows, read by the expression reader as a drawing is (measured: eyes
    # 0.98 / 1.01 at rest, 0.05 / 0.10 blinking, 0.13 / 0.99 winking; mouth 0.38 open, and 0.33
    # with eyes 0.17 / 0.09 both at once)
    read = default_reader().read(out.rgb.clip(0, 1) * out.mask, out.mask).values
    l, r, m = (read[:, P.INDEX[k]] for k in ("eye_open_l", "eye_open_r", "mouth_open"))
    opened = 0.7
    assert min(l[0], r[0]) > opened and m[0] < P.OPEN_MOUTH, read  # rest
    assert max(l[1], r[1]) < P.SHUT_EYE and m[1] < P.OPEN_MOUTH, read  # blink
    assert l[2] < P.SHUT_EYE and r[2] > opened and m[2] < P.OPEN_MOUTH, read  # wink left
    assert min(l[3], r[3]) > opened and m[3] >= P.OPEN_MOUTH, read  # mouth open
    assert max(l[4], r[4]) < P.SHUT_EYE and m[4] >= P.OPEN_MOUTH, read  # both


def test_what_is_said_of_an_image_is_said_once(tmp_path, caplog):
    """A grayscale drawing gets its warning once: not again for each drawing made from it, under a
    name in a temporary folder that the user never gave."""
    from export.character import CharacterOptions, make_character
    from puppet.assets import DEFAULT_BASE

    with caplog.at_level("WARNING"):
        make_character(DEFAULT_BASE, [DRAWN / "lorelei" / "Jiwoo_0.png"], tmp_path / "one.puppet",
                       CharacterOptions(name="one", compact=True))
    assert caplog.text.count("grayscale") == 1, caplog.text
    assert "(blink)" not in caplog.text and "drew into it" in caplog.text


def test_a_full_set_gets_nothing_drawn_and_is_told_why(tmp_path, caplog):
    """Sixteen images, the most a character takes, none with shut eyes or an open mouth: there is
    no room for drawn ones, and the warning says that (not that the features were not found)."""
    from export.character import with_missing_drawn
    from puppet.sources import MAX_SOURCES

    paths = [DRAWN / "micah" / "Seoyeon_0.png"] * MAX_SOURCES
    sources = load_sources(paths, 64, rule=CropRule.for_driving("proxy"))
    expressions = np.stack([P.neutral()] * MAX_SOURCES)
    with caplog.at_level("WARNING", logger="export.character"):
        out, said = with_missing_drawn(sources, expressions, V.wanted(expressions), False,
                                       CropRule.for_driving("proxy"), tmp_path)
    assert out is sources and said is expressions
    assert "16 images are the most a character takes" in caplog.text
    assert "could not be told" not in caplog.text and not list(tmp_path.iterdir())
