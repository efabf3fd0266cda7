"""Fine-tuning: a tuned character reconstructs its sources better than the feed-forward one, the
preview is written before training, and proxy characters train against proxy renders."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import ADVENTURER

from export.base_model import load_base
from export.character import CharacterOptions, make_character
from export.train.finetune import FinetuneConfig, source_expressions
from export.train.renders import proxy_render
from puppet import params as P
from puppet.bundle import read_bundle
from puppet.sources import load_sources

IMAGES = [ADVENTURER / f"mina_{i}.png" for i in (0, 2, 6)]


def _expressions():
    # Hand-read values of the three drawings: neutral, open mouth, eyes shut.
    return np.stack([P.make(), P.make(mouth_open=0.8, smile=0.4), P.make(eye_open_l=0.0, eye_open_r=0.0)])


def _reconstruction_error(bundle_path, sources, drivers) -> float:
    sess = ort.InferenceSession(read_bundle(bundle_path).graph, providers=["CPUExecutionProvider"])
    rgb, mask, _ = sess.run(None, {"driver": drivers})
    return float(np.abs(rgb * mask - sources.images * sources.masks).mean())


def test_finetuned_beats_feedforward(tiny_base, tmp_path):
    expr = _expressions()
    feed = make_character(tiny_base, IMAGES, tmp_path / "ff.puppet",
                          CharacterOptions(name="ff", iterations=0, precropped=True, fp16=False))
    preview = tmp_path / "preview.png"
    tuned = make_character(tiny_base, IMAGES, tmp_path / "ft.puppet",
                           CharacterOptions(name="ft", iterations=80, precropped=True, fp16=False,
                                            source_params=expr), preview=preview)
    sources = load_sources(IMAGES, 32, precropped=True)
    drivers = np.stack([proxy_render(p, 32, 0) for p in expr])
    before, after = (_reconstruction_error(p, sources, drivers) for p in (feed, tuned))
    assert after < 0.95 * before, (before, after)  # a random `tiny` base: 80 steps give ~9%
    assert preview.is_file() and preview.stat().st_size > 1000


def test_expressions_given_are_checked(tiny_base):
    base = load_base(tiny_base)
    sources = load_sources(IMAGES, 32, precropped=True)
    assert np.array_equal(source_expressions(base, sources, _expressions()), _expressions())
    with pytest.raises(ValueError, match="3 images"):
        source_expressions(base, sources, _expressions()[:2])


def test_expressions_not_given_are_read_from_the_pose_code(tiny_base, caplog, monkeypatch):
    """Images without given values are read by the base model's read-out; a base without one
    falls back on face tracking, and where that finds no face, on rest with a warning (here without
    the expression reader, which comes first: tests/test_expression_reader.py)."""
    import puppet.tracking

    monkeypatch.setattr("export.train.finetune.default_reader", lambda: None)
    monkeypatch.setattr(puppet.tracking, "estimate_params", lambda image: None)
    base = load_base(tiny_base)
    sources = load_sources(IMAGES, 32, precropped=True)
    given = _expressions()
    given[1] = np.nan  # the user left the second image to the estimate
    assert np.array_equal(source_expressions(base, sources, given)[1], P.neutral())
    assert "mina_2.png: no face found" in caplog.text
    base.readout = torch.nn.Linear(base.cfg.pose_dim, P.NUM_PARAMS)
    torch.nn.init.zeros_(base.readout.weight)
    with torch.no_grad():  # reads every picture as mouth 70 % open, all else mid-range
        base.readout.bias[:] = 0.0
        base.readout.bias[P.INDEX["mouth_open"]] = 0.4
    monkeypatch.setattr(puppet.tracking, "estimate_params", lambda image: P.make(mouth_open=0.1))
    out = source_expressions(base, sources, given)
    assert np.array_equal(out[[0, 2]], given[[0, 2]])
    assert out[1][P.INDEX["mouth_open"]] == pytest.approx(0.7) and out[1][P.INDEX["yaw"]] == pytest.approx(0.0)


def test_default_iterations_follow_the_method():
    cfg = FinetuneConfig()
    assert cfg.steps_for(1) == 125 and cfg.steps_for(8) == 230 and cfg.steps_for(16) == 230
    assert FinetuneConfig(iterations=7).steps_for(3) == 7


def test_mlp_only_fine_tuning_keeps_the_decoder(tiny_base):
    from export.base_model import load_base
    from export.train.finetune import finetune

    base = load_base(tiny_base)
    sources = load_sources(IMAGES, 32, precropped=True)
    model, _ = finetune(base, sources, FinetuneConfig(iterations=6, train_part="mlp"), source_params=_expressions())
    before, after = base.model.generator.state_dict(), model.generator.state_dict()
    changed = {k for k in before if not np.allclose(before[k].numpy(), after[k].numpy())}
    assert changed and all(k.startswith("mlp.") for k in changed), changed


def test_turn_warp_moves_a_face_as_the_renderer_turns_it():
    """A 2.5-D turn of a rest render is closer to the true render at that yaw / pitch than the
    rest render is, and closer than the turn the other way (on identities never trained on)."""
    from export.train.data import HELD_OUT_SEEDS
    from export.train.renders import to_chw
    from export.train.warp import turn
    from puppet.heads import Identity, render_head

    def masked(r):
        return to_chw(r.rgb) * r.mask[None]

    errors = {"plain": [], "turned": [], "opposite": []}
    for i in range(4):
        ident = Identity.from_seed(HELD_OUT_SEEDS + i)
        rest = masked(render_head(ident, P.neutral(), 128))
        for yaw, pitch in ((20.0, 0.0), (-20.0, 0.0), (0.0, 12.0), (0.0, -12.0)):
            truth = masked(render_head(ident, P.make(yaw=yaw, pitch=pitch), 128))
            errors["plain"].append(np.abs(rest - truth).mean())
            errors["turned"].append(np.abs(turn(rest, yaw, pitch) - truth).mean())
            errors["opposite"].append(np.abs(turn(rest, -yaw, -pitch) - truth).mean())
    mean = {k: float(np.mean(v)) for k, v in errors.items()}
    assert mean["turned"] < 0.85 * mean["plain"] < mean["opposite"], mean


def test_expression_map_weighs_what_changes_between_the_sources():
    """On a procedural character's sources (turns and expressions), the map's weight lies on the
    true eye and mouth boxes: they change with the expression, the cheeks and hair do not."""
    from conftest import ASSETS

    from export.train.data import feature_map
    from export.train.finetune import expression_map
    from puppet.heads import Identity, render_head

    sources = load_sources(sorted((ASSETS / "sources" / "procedural").glob("head1000013_*.png")), 128,
                           precropped=True)
    spread = expression_map(sources)[0]
    features = feature_map(render_head(Identity.from_seed(1000013), P.neutral(), 128).points, 128)[0] > 0
    figure = sources.masks.mean(0)[0] > 0.5
    assert spread[features].mean() > 3 * spread[figure & ~features].mean()  # measured 5.9x
    one = load_sources(sources.paths[:1], 128, precropped=True)
    assert not expression_map(one).any()
