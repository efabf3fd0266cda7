"""The embedded default that ships in assets/: the trained base model and the demo characters.

These check the committed files themselves, so a retrained model or a rebuilt character that is
worse than what was measured when it was committed fails here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ASSETS

from puppet import params as P
from puppet.assets import DEFAULT_BASE, demo_characters, first_demo_character
from puppet.bundle import read_bundle
from puppet.engine import Engine, EngineConfig
from puppet.capture import VideoFileSource
from puppet.pipeline import Mode, Pipeline, PipelineConfig
from puppet.pipeline.prepare import DriverPreparer, to_tensor

MAX_BYTES = 70 * 10**6  # everything in assets/, in git forever
WARP_STEPS = 2000  # of the warp head's last leg (after 750 + 3500 + 3000 + 1500 from the 33000-step synthesis base)
# Thresholds a little under (over) what was measured when the files were committed; the figures
# on 16 identities are in the README.
MODEL_VS_NEAREST = 0.75  # masked L1, model / nearest source (measured 0.60 here, 0.59 on 16)
# output / truth (measured 0.85 here, 0.86 on 16; 0.71 and 0.74 sampling the references at their own
# side; the nearest source: 0.95)
MIN_SHARPNESS = 0.78
FOLLOWS = {"eyes_change": 0.8, "mouth_change": 0.8, "yaw_shift_px": 0.6, "pitch_shift_px": 0.7,
           "roll_deg": 0.85}  # measured 1.25, 0.93, 0.88, 0.93, 0.98 (the synthesis base: mouth 0.10)
# Masked L1 to each of its own sources at the output resolution (measured: mina up to 0.0145 without
# the local flow, as the procedural characters are made: up to 0.0092 and 0.0195 with the figure's
# placement steadied, 0.014 and 0.020 before, all without the
# residual (with it mina 0.0149); with the base before the one-drawing leg mina 0.013, 0.024 with
# the local flow, the procedural ones 0.015 and 0.022; with the base before its references were calibrated mina 0.027, 0.030 with her drawings placed at their
# parameters instead of where the read-out puts them, 0.050 while brows and gaze chose references)
MAX_SOURCE_L1 = {"mina": 0.016, "procedural-1000004": 0.012, "procedural-1000013": 0.022}

# Each demo character, the images (and hand-read or true expressions) it was made from, and
# whether they are crops already.
SOURCES = {
    "mina": ("sources/adventurer/mina_*.png", "sources/adventurer/mina.params.json", False),
    "procedural-1000004": ("sources/procedural/head1000004_*.png",
                           "sources/procedural/head1000004.params.json", True),
    "procedural-1000013": ("sources/procedural/head1000013_*.png",
                           "sources/procedural/head1000013.params.json", True),
}


def test_assets_fit_the_size_budget():
    files = [f for f in ASSETS.rglob("*") if f.is_file()]
    total = sum(f.stat().st_size for f in files)
    assert total <= MAX_BYTES, sorted(((f.stat().st_size, str(f)) for f in files), reverse=True)[:5]


def test_the_base_model_is_a_trained_toon_warp_model():
    from export.base_model import load_base

    base = load_base(DEFAULT_BASE, with_discriminator=False)
    assert base.preset == "toon" and base.cfg.driving_mode == "proxy" and base.cfg.head == "warp"
    assert base.cfg.calibrated_pose and base.info["steps"] >= WARP_STEPS
    assert base.info["averaged"] == [1500, 1750, WARP_STEPS]  # the mean of the last leg's checkpoints


def test_the_base_model_beats_the_trivial_answers_on_sources_as_users_give_them():
    """`puppet-export eval` on eight held-out identities (figures on 16 are in the README; on the first
    two alone the turns read 0.46 of the truth's: one of them, blonde hair over the sides of a dark
    face, turns visibly but moves the face's dark marks 0.6 px against the truth's 7.6)."""
    from export.base_model import load_base
    from export.train.sheet_eval import SheetEvalConfig, sheet_evaluate

    r = sheet_evaluate(load_base(DEFAULT_BASE, with_discriminator=False), SheetEvalConfig(identities=8, targets=4))
    assert r["model_l1"] < MODEL_VS_NEAREST * r["nearest_l1"], r
    assert r["model_sharpness"] > MIN_SHARPNESS, r  # drawn with the sources' own pixels, not blurred
    for key, least in FOLLOWS.items():
        assert r[f"model_follow_{key}"] > least, (key, r)


@pytest.mark.parametrize("world", ["classic", "styled"])
def test_the_base_model_reads_a_characters_head_size_from_its_identity(world):
    """The head-size read-out (``fit-head-size``) on held-out identities, each from the sheet a user
    would draw, as characters are made: measured mean error 0.010 (classic) and 0.012 (styled) on
    these eight, against 0.042 for taking every head at the proxy's size."""
    from export.base_model import load_base
    from export.train.data import HELD_OUT_SEEDS
    from export.train.references import reference_frames
    from export.train.sheet_eval import sheet_params
    from puppet.heads import Identity

    base = load_base(DEFAULT_BASE, with_discriminator=False)
    assert base.info["head_sizer"]["r2"] > 0.8
    read, proxys = [], []
    for seed in range(HELD_OUT_SEEDS, HELD_OUT_SEEDS + 8):
        ident = Identity.from_seed(seed, world)
        refs = reference_frames(ident, sheet_params(), base.cfg.resolution)
        with torch.no_grad():
            code = base.model.identity(torch.from_numpy(refs[:, :3] * refs[:, 3:])[None])
        read.append(abs(base.head_size_of(code) - ident.head_size))
        proxys.append(abs(1.0 - ident.head_size))
    assert np.mean(read) < 0.4 * np.mean(proxys), (np.mean(read), np.mean(proxys))


def test_a_one_image_character_turns_with_the_driver_but_barely_blinks_or_talks():
    """Given the rest drawing alone, the warp head moves it with the head (the README says so, and
    that it does not blink or talk: its residual paints next to nothing, even after a leg in which
    three samples in ten had one rest drawing for references); with one source the nearest answer
    is that source. Measured: 0.62 x static; follow 0.83 / 0.33 / 0.88 / 0.92 / 0.98."""
    from export.base_model import load_base
    from export.train.sheet_eval import SheetEvalConfig, sheet_evaluate

    r = sheet_evaluate(load_base(DEFAULT_BASE, with_discriminator=False),
                       SheetEvalConfig(identities=8, targets=4, sources=1))
    assert r["nearest_l1"] == r["static_l1"] and r["sources"] == 1
    assert r["model_l1"] < 0.75 * r["static_l1"], r
    for key in ("yaw_shift_px", "pitch_shift_px", "roll_deg"):
        assert r[f"model_follow_{key}"] > 0.6, (key, r)
    assert r["model_follow_mouth_change"] < 0.6, r  # the gap the README names


def test_a_one_image_character_blinks_and_talks_with_what_is_missing_drawn_into_it():
    """The same identities and frames, with shut eyes, winks and an open mouth drawn into the rest
    drawing where its features are found (export/expression_variants.py), as characters are made.
    Measured: 0.50 x static; follow 1.18 / 0.67 / 0.89 / 0.93 / 0.97 (0.83 / 0.33 without)."""
    from export.base_model import load_base
    from export.train.sheet_eval import SheetEvalConfig, sheet_evaluate

    r = sheet_evaluate(load_base(DEFAULT_BASE, with_discriminator=False),
                       SheetEvalConfig(identities=8, targets=4, sources=1, draw_missing=True))
    assert r["model_l1"] < 0.6 * r["static_l1"], r
    assert 0.7 < r["model_follow_eyes_change"] < 1.3, r
    assert r["model_follow_mouth_change"] > 0.55, r


def test_references_are_chosen_only_by_what_the_pose_code_carries():
    """Each parameter the warp head chooses references by is read from the pose code of proxy
    renders (a parameter it cannot read would be read at rest whatever the driver does, and would
    pull every choice to the drawings at rest in it)."""
    from export.base_model import load_base
    from export.models.warp_head import REGION_PARAMS, TIE_NAMES

    base = load_base(DEFAULT_BASE, with_discriminator=False)
    rng = np.random.default_rng(1)
    truth = np.stack([P.sample(rng) for _ in range(120)])
    read = base.read_expression(_proxy_drivers(read_bundle(first_demo_character()).manifest, truth))
    chosen_by = set(TIE_NAMES).union(*REGION_PARAMS)
    t, r = truth.T, read.T  # per parameter
    explained = {name: 1 - np.mean((t[i] - r[i]) ** 2) / t[i].var() for name, i in P.INDEX.items()}
    assert all(explained[name] > 0.15 for name in chosen_by), explained
    assert explained["brow_l"] < 0.15 and explained["gaze_x"] < 0.15, explained  # left out, and why


def _drawn_by(graph, drivers: np.ndarray, monkeypatch):
    """What the warp head answered for ``drivers``, run through a frozen character's graph."""
    from export.models import warp_head

    seen = []
    forward = warp_head.WarpHead.forward

    def keep(self, *args, **kwargs):
        seen.append(forward(self, *args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(warp_head.WarpHead, "forward", keep)
    with torch.no_grad():
        graph(torch.from_numpy(drivers))
    return seen[0]


def test_each_pixel_of_a_drawn_face_comes_from_one_drawing(monkeypatch):
    """Where an eye took one drawing and the rest of the face another, a line crossing their
    border was drawn in two pieces (Mina's brows, and her eye, on the demo clip). Her sheet is
    composed by strokes (export/models/strokes.py); her drawings differ everywhere at once, so no
    region can take another drawing whole: driven to random expressions, every region takes the
    rest's drawing and every pixel of her face comes from it (with the learnt regions: 0.13 % of
    face pixels mixed drawings, and lines were cut where regions met). The graph then samples
    that drawing alone, and draws what the composition by strokes draws."""
    from export.base_model import load_base
    from export.character import CharacterOptions, warp_character
    from export.models.strokes import Strokes

    base = load_base(DEFAULT_BASE, with_discriminator=False)
    sources, params = _sources("mina", base.cfg.resolution)
    graph, _ = warp_character(base, sources, CharacterOptions(name="mina", source_params=np.stack(params)))
    assert graph.strokes().whole
    rng = np.random.default_rng(0)
    drivers = _proxy_drivers(read_bundle(first_demo_character()).manifest,
                             [P.sample(rng, spread=0.4) for _ in range(16)])
    out = _drawn_by(graph, drivers, monkeypatch)
    taken = out.choice.argmax(-1)  # [N,4]
    assert (taken == taken[:, -1:]).all()
    assert len(set(taken[:, -1].tolist())) >= 3  # the expressions took several drawings
    monkeypatch.setattr(Strokes, "whole", property(lambda self: False))
    composed = _drawn_by(graph, drivers, monkeypatch)
    face = composed.mask[:, 0] > 0.5
    drawn_from = F.one_hot(composed.choice.argmax(-1), len(params)).float()  # [N,4,R]: what the graph samples
    weights = torch.einsum("ngr,nghw->nrhw", drawn_from, composed.shown)  # each drawing's share of each pixel
    assert int(((weights.max(1).values < 0.99) & face).sum()) == 0
    # the drawing alone is read from the drawings stacked into one picture: its points, in grid
    # units of a picture eight drawings tall, are a few ten-thousandths of a texel off
    torch.testing.assert_close(out.rgb, composed.rgb, atol=5e-4, rtol=0)


def test_mina_is_drawn_without_the_generators_trunk():
    """Composed by strokes one drawing at a time, without local flow or residual, Mina uses none of
    the trunk's answers: her graph leaves it out (6 ms a frame against 30), the procedural
    characters, which use its regions and local flow, keep it."""
    import onnx

    for path in demo_characters():
        weights = {i.name for i in onnx.load_from_string(read_bundle(path).graph).graph.initializer}
        trunk = any(name.startswith("generator.") for name in weights)
        assert trunk == (path.stem != "mina"), path


def test_a_sheet_of_features_is_composed_by_strokes(monkeypatch):
    """A procedural head's sheet drawn alike (each drawing differs from rest in one feature)
    composes freely: asked to shut its eyes and open its mouth, which no drawing shows, it draws
    the shut eyes of one and the open mouth of another, each as that drawing draws it."""
    from export.base_model import load_base
    from export.character import CharacterOptions, warp_character
    from export.models import warp_head
    from puppet.heads import Identity, render_head
    from puppet.sources import load_sources

    base = load_base(DEFAULT_BASE, with_discriminator=False)
    _, params = _sources("procedural-1000004")
    paths = sorted(ASSETS.glob(SOURCES["procedural-1000004"][0]))[:6]  # the ones facing the camera
    sources = load_sources(paths, base.cfg.resolution, precropped=True)
    options = CharacterOptions(name="p", source_params=np.stack(params[:6]), local_flow=1.0)
    graph, side = warp_character(base, sources, options)
    assert graph.stroke_clash.sum() == 0
    wanted = P.make(eye_open_l=0.0, eye_open_r=0.0, mouth_open=0.9)
    choose = warp_head.WarpHead.choose

    def or_whole(self, *args, **kwargs):  # the 2nd and 3rd drivers: drawings 1 and 2 whole
        choice = choose(self, *args, **kwargs)
        return torch.cat([choice[:1], F.one_hot(torch.tensor([[1] * 4, [2] * 4]), choice.shape[-1]).float()])

    monkeypatch.setattr(warp_head.WarpHead, "choose", or_whole)
    out = _drawn_by(graph, _proxy_drivers(read_bundle(first_demo_character()).manifest, [wanted] * 3), monkeypatch)
    assert out.choice[0].argmax(-1)[:3].tolist() == [1, 1, 2]  # shut eyes from one, the open mouth from the other
    head = render_head(Identity.from_seed(1000004), wanted, side)  # where its features are
    drawn = out.rgb * out.mask  # the same motion for all three

    def near(point: str, i: int) -> float:  # composed vs the ith, within a tenth of the side of a feature
        x, y = (round(v) for v in head.points[point])
        r = side // 10
        return float((drawn[0] - drawn[i])[:, max(0, y - r):y + r, max(0, x - r):x + r].abs().mean())

    assert near("mouth", 2) < 0.002 < 0.01 < near("mouth", 1)  # the open mouth's drawing's mouth
    for eye in ("eye_l", "eye_r"):
        assert near(eye, 1) < 0.002 < 0.01 < near(eye, 2)  # the shut eyes' drawing's eyes


def test_the_demo_characters_are_warp_characters_of_the_base():
    chars = {p.stem: p for p in demo_characters()}
    assert set(SOURCES) <= set(chars)
    assert first_demo_character().stem == "mina"  # what the program opens with
    for path in chars.values():
        m = read_bundle(path).manifest
        assert (m.base_preset, m.driving_mode, m.driver_resolution, m.output_resolution) == \
            ("toon", "proxy", 128, 256), path


def _proxy_drivers(manifest, params) -> np.ndarray:
    """float32 [N,3,R,R]: the proxy head at each parameter vector, as the pipeline draws it."""
    prepare = DriverPreparer(manifest)
    return np.concatenate([to_tensor(prepare.image(None, None, p)) for p in params])


def _sources(name: str, side: int = 128):
    from puppet.sources import load_sources

    pattern, params_file, precropped = SOURCES[name]
    paths = sorted(ASSETS.glob(pattern))
    params = [P.from_dict(v) for v in json.loads((ASSETS / params_file).read_text())]
    return load_sources(paths, side, precropped=precropped), params


@pytest.fixture(scope="module")
def engines():
    chars = {p.stem: p for p in demo_characters()}
    loaded = {name: Engine.load(chars[name], EngineConfig(device="cpu")) for name in SOURCES}
    yield loaded
    for e in loaded.values():
        e.close()


def test_each_demo_character_draws_each_of_its_sources(engines):
    """Driven at the expression (and pose, relative to the set's) of each of its source images,
    each character draws that image, every region from it, at its output resolution."""
    from export.character import relative_pose

    for name, engine in engines.items():
        sources, params = _sources(name, engine.output_resolution)
        drivers = _proxy_drivers(engine.manifest, relative_pose(np.stack(params)))
        out = engine.run(drivers)
        errors = np.abs(out.rgb * out.mask - sources.images * sources.masks).mean((1, 2, 3))
        assert errors.max() <= MAX_SOURCE_L1[name], (name, errors.round(4))
        drawn_from = out.choice.argmax(-1)  # [sources, regions]
        np.testing.assert_array_equal(drawn_from, np.arange(len(params))[:, None].repeat(drawn_from.shape[1], 1))


def test_a_procedural_characters_shoulders_reach_the_bottom_edge_when_the_head_moves_up(engines):
    """Its renders cut the shoulders at the picture's bottom edge. Moved up and made smaller by the
    driver, the figure goes on past that edge (each drawing's edge continues beyond it) instead of
    leaving a strip of background under the shoulders."""
    engine = engines["procedural-1000004"]
    sources, _ = _sources("procedural-1000004", engine.output_resolution)
    cut = sources.masks[0, 0, -1] > 0.5  # the rest drawing's bottom row: where the figure meets the edge
    assert cut.mean() > 0.5
    out = engine.run(_proxy_drivers(engine.manifest, [P.make(offset_y=-0.1, scale=0.9)]))
    assert out.mask[0, 0, -8:][:, cut].min() > 0.95  # the last 8 rows, under the figure's cut


def test_a_character_holds_its_drawings_until_the_driver_is_clearly_nearer_another(engines):
    """Mina's eyes opened from 0.5 to 1.3 and shut again: left to itself each region takes the
    nearest drawing, the same on the way up and down; fed its previous choice (as the pipeline
    feeds it), a region switches later each way, so a driver between two drawings does not flick
    between them."""
    engine = engines["mina"]
    sweep = [P.make(eye_open_l=v, eye_open_r=v) for v in np.linspace(0.5, 1.3, 17)]
    drivers = _proxy_drivers(engine.manifest, sweep + sweep[::-1])

    def chosen(hold: bool) -> np.ndarray:
        previous, tops = None, []
        for d in drivers:
            out = engine.run(d[None], previous if hold else None)
            previous = out.choice
            tops.append(out.choice[0].argmax(-1))
        return np.stack(tops)  # [frames, regions]

    free, held = chosen(False), chosen(True)
    up, down = slice(0, 17), slice(None, 16, -1)  # down reversed: the same drivers in the same order
    np.testing.assert_array_equal(free[up], free[down])
    assert len(np.unique(free[up, 0])) >= 2  # the sweep crosses drawings
    assert (held[up] != held[down]).any()
    assert (held[0] == free[0]).all() and (held[16] == free[16]).all()  # at the ends, the nearest


def test_the_pipeline_feeds_each_frame_the_last_choice(engines, monkeypatch):
    engine = engines["mina"]
    calls = []
    run = engine.run

    def spy(driver, previous_choice=None):
        out = run(driver, previous_choice)
        calls.append((previous_choice, out.choice))
        return out

    monkeypatch.setattr(engine, "run", spy)
    pipe = Pipeline(engine, VideoFileSource(ASSETS / "driver" / "demo.mp4"),
                    PipelineConfig(mode=Mode.OFFLINE, max_frames=5))
    pipe.start()
    assert pipe.wait(120).frames_out == 5
    assert calls[0][0] is None
    for (_, before), (given, _) in zip(calls, calls[1:]):
        assert given is before


def test_the_demo_characters_follow_the_driver():
    """Driven by the proxy, each demo character shuts its eyes, turns, nods and tilts its head
    with the driver (`puppet-export follow`; figures measured when they were committed are in the
    README, beside those of the true renders of the procedural identities)."""
    from export.train.evaluate import character_follow

    # Thresholds under what was measured (eyes 0.041-0.233, mouth 0.029-0.300, yaw 9.3-13.3 px of
    # a 128 px picture against the truth's 9.0-10.0, roll 41-47 degrees against the truth's 50) and
    # over what the characters of the synthesis base gave in eyes and mouth (eyes 0.031-0.221,
    # mouth 0.002-0.031, yaw 7.9-11.1 px, roll 39-43 degrees). Mina reads 41 degrees, though her
    # head turns whole by the 47 the graph reads (test_a_head_drawn_alone_tilts_whole_...): the
    # measure looks for dark marks within the proxy's face, which her larger head's leave.
    for path in demo_characters():
        if path.stem not in SOURCES:
            continue
        r = character_follow(path)
        assert r["eyes_change"] > 0.03, r
        assert r["mouth_change"] > 0.02, r
        assert r["yaw_shift_px"] > 8, r
        assert r["roll_deg"] > 38, r


def test_source_images_expressions_are_read():
    """What a character takes a source image's expression to be when none is given: the face from
    the expression reader, head pose from the base's read-out of the pose code. On the held-out
    procedural characters' sources it agrees with the truth, and on Mina's drawings with the
    hand-read values, in what the sources vary."""
    from export.base_model import load_base
    from export.train.finetune import source_expressions

    base = load_base(DEFAULT_BASE, with_discriminator=False)

    def agreement(name: str, slots: tuple[str, ...]) -> dict[str, float]:
        sources, truth = _sources(name)
        read = source_expressions(base, sources, None)
        return {s: float(np.corrcoef(read[:, P.INDEX[s]], np.stack(truth)[:, P.INDEX[s]])[0, 1]) for s in slots}

    for name in ("procedural-1000004", "procedural-1000013"):
        r = agreement(name, ("yaw", "eye_open_l", "mouth_open"))
        assert min(r.values()) > 0.75, (name, r)  # measured 0.88-1.00 (face tracking's mouth: 0.16, -0.47)
    r = agreement("mina", ("eye_open_l", "mouth_open"))
    assert min(r.values()) > 0.5, r  # measured 0.72 eyes, 0.78 mouth


def test_the_eyes_and_mouth_of_turned_drawings_are_drawn_in_windows(monkeypatch):
    """A character whose drawings turn moves each region's drawing on a grid of its own, and
    samples the eyes and the mouth only in windows that follow them (export/models/windows.py).
    Driven to random expressions and head poses, the extremes among them, it draws what sampling
    them over the whole picture draws: their regions weigh nothing beyond their windows."""
    from export.base_model import load_base
    from export.character import CharacterOptions, warp_character
    from export.models import windows

    base = load_base(DEFAULT_BASE, with_discriminator=False)
    sources, params = _sources("procedural-1000004")
    graph, side = warp_character(base, sources, CharacterOptions(name="p", source_params=np.stack(params),
                                                                 local_flow=1.0))
    assert not graph.shared_pose
    rng = np.random.default_rng(2)
    extremes = [P.make(yaw=40 * s, pitch=30 * s, roll=-35 * s, offset_x=0.15 * s, offset_y=-0.15 * s, scale=1.25,
                       eye_open_l=0.0, mouth_open=1.0) for s in (-1, 1)]
    turned = [P.make(yaw=yaw, eye_open_l=0.0, eye_open_r=0.0, mouth_open=0.8) for yaw in (-30, 30)]
    drivers = _proxy_drivers(read_bundle(first_demo_character()).manifest,
                             extremes + turned + [P.sample(rng) for _ in range(8)])
    windowed = _drawn_by(graph, drivers, monkeypatch)
    taken = windowed.choice.argmax(-1)
    assert (taken[:, :3] != taken[:, 3:]).any(1).sum() >= 4  # eyes or mouth from another drawing than the rest's
    monkeypatch.setattr(windows, "WINDOW", 1.0)  # the whole picture
    whole = _drawn_by(graph, drivers, monkeypatch)
    assert float((windowed.shown - whole.shown).abs().max()) < 1e-3
    assert float((windowed.rgb * windowed.mask - whole.rgb * whole.mask).abs().max()) < 1e-3


def _folded(grid: torch.Tensor, figure: torch.Tensor) -> float:
    """The share of the figure's pixels [S,S] where the motion grid [S,S,2] folds or tears: the
    neighbouring pixels' points (in pixels) fold over or lie more than 3 px apart."""
    points = grid * (grid.shape[0] / 2)
    dx, dy = (points[:, 1:] - points[:, :-1])[:-1], (points[1:] - points[:-1])[:, :-1]
    area = dx[..., 0] * dy[..., 1] - dx[..., 1] * dy[..., 0]
    bad = (area < 0.25) | (torch.maximum(dx.norm(dim=-1), dy.norm(dim=-1)) > 3)
    return float((bad & figure[:-1, :-1]).sum() / figure.sum())


def test_a_drawings_head_turns_without_folding_its_features():
    """A drawing's head seldom lies where the proxy's ellipsoid does: the ellipsoid's outline
    crosses Mina's far eye and her tuft, and with a sphere's edge the head motion folds there (the
    eye drawn twice). A character made from drawings has a soft edge (export/models/head_motion.py):
    turned 20 degrees either way, no pixel of her figure folds. Procedural characters, made from
    renders framed as the proxy's, keep the sphere's."""
    from export.base_model import load_base
    from export.character import CharacterOptions, warp_character
    from export.models.head_motion import head_motion_grid, identity_grid

    base = load_base(DEFAULT_BASE, with_discriminator=False)
    sources, params = _sources("mina")
    graph, side = warp_character(base, sources, CharacterOptions(name="mina", source_params=np.stack(params)))
    procedural, _ = warp_character(base, *_sources("procedural-1000004")[:1], CharacterOptions(
        name="p", precropped=True, source_params=np.stack(_sources("procedural-1000004")[1])))
    assert graph.soft_edge and not procedural.soft_edge
    figure = graph.references[0, 3] > 127
    rest = graph.reference_params[0]
    for yaw in (-20, 20):
        turned = rest.clone()
        turned[P.INDEX["yaw"]] += yaw
        folded = {soft: _folded(head_motion_grid(identity_grid(side)[None], turned[None], rest[None, None],
                                                 graph.head_size, soft)[0, 0], figure) for soft in (False, True)}
        assert folded[True] == 0 and folded[False] > 0.02, (yaw, folded)  # measured 0 against 0.036-0.039


def test_a_head_drawn_alone_tilts_whole_and_a_figure_with_shoulders_keeps_them_still(engines):
    """The roll fades out over the neck, so that the shoulders stay. Mina is a head alone: tilted
    25 degrees with the fade, her chin flattened and her mouth sheared. Her figure narrows to her
    chin and ends (``head_motion.neck_fade``), so her graph turns it whole: tilted, her picture is
    her upright one turned by the driver's roll. A procedural character's figure reaches the
    picture's bottom edge: its shoulders stay."""
    import cv2

    from export.base_model import load_base
    from export.models.param_units import from_unit
    from puppet.heads import CENTRE

    readout = load_base(DEFAULT_BASE, with_discriminator=False).model.warp.readout
    for name, whole in (("mina", True), ("procedural-1000004", False)):
        engine = engines[name]
        side = engine.output_resolution
        out = engine.run(_proxy_drivers(engine.manifest, [P.neutral(), P.make(roll=25.0)]))
        with torch.no_grad():
            rolls = from_unit(readout(torch.from_numpy(out.pose)))[:, P.INDEX["roll"]]
        roll = float(rolls[1] - rolls[0])  # the turn between the two pictures, as the graph reads it
        assert 18 < roll < 32, (name, roll)
        turn = cv2.getRotationMatrix2D((CENTRE[0] * side - 0.5, CENTRE[1] * side - 0.5), -roll, 1.0)
        turned = cv2.warpAffine(out.mask[0, 0], turn, (side, side), flags=cv2.INTER_LINEAR)
        # where the figures differ, beyond a pixel's ring along the outline
        differ = cv2.erode((np.abs(turned - out.mask[1, 0]) > 0.5).astype(np.uint8), np.ones((3, 3), np.uint8))
        if whole:  # measured 0 (with the fade: 0.26 %, the chin and the ear)
            assert differ.mean() == 0, name
        else:  # measured 17 %, the shoulders
            assert differ.mean() > 0.05, name
            np.testing.assert_allclose(out.mask[1, 0, -side // 8:], out.mask[0, 0, -side // 8:], atol=0.02)
