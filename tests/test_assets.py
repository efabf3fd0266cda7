"""The embedded default that ships in assets/: the trained base model and the demo characters.

These check the committed files themselves, so a retrained model or a rebuilt character that is
worse than what was measured when it was committed fails here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ASSETS

from puppet import params as P
from puppet.assets import DEFAULT_BASE, demo_characters, first_demo_character
from puppet.bundle import read_bundle
from puppet.engine import Engine, EngineConfig
from puppet.pipeline.prepare import DriverPreparer, to_tensor

MAX_BYTES = 60 * 10**6  # base model plus demo characters, in git forever

# Each demo character and the images (and read expressions) it was fine-tuned from.
SOURCES = {
    "mina": ("sources/adventurer/mina_*.png", "sources/adventurer/mina.params.json", False),
    "procedural-1000004": ("sources/procedural/head1000004_*.png",
                           "sources/procedural/head1000004.params.json", True),
    "procedural-1000013": ("sources/procedural/head1000013_*.png",
                           "sources/procedural/head1000013.params.json", True),
}


def test_base_model_and_characters_fit_the_size_budget():
    files = [DEFAULT_BASE, *demo_characters()]
    total = sum(f.stat().st_size for f in files)
    assert total <= MAX_BYTES, {f.name: f.stat().st_size for f in files}


def test_the_base_model_is_a_trained_toon_proxy_model():
    from export.base_model import load_base

    base = load_base(DEFAULT_BASE, with_discriminator=False)
    assert base.preset == "toon" and base.cfg.driving_mode == "proxy"
    assert base.info["steps"] >= 33000


def test_the_base_model_carries_pose_to_identities_it_never_saw():
    from export.train.evaluate import EvalConfig, evaluate

    r = evaluate(DEFAULT_BASE, EvalConfig(identities=2))
    # Driven by the proxy head, the output is far closer to the truth than the still first frame,
    # and as close as when the identity drives itself: the pose code carries no identity.
    assert r["proxy_l1"] < 0.5 * r["static_l1"]
    assert r["proxy_l1"] < 1.2 * r["self_l1"]
    # The head turns and the eyes shut with the driver's (measured on these two identities: 1.01
    # and 0.63; on 16, 0.96 and 0.83). The mouth does not follow yet (0.04; 0.10): see the README.
    assert r["follows_yaw"] > 0.5
    assert r["follows_eyes"] > 0.3


def test_the_demo_characters_are_proxy_characters_of_the_base():
    chars = {p.stem: p for p in demo_characters()}
    assert set(SOURCES) <= set(chars)
    assert first_demo_character().stem == "mina"  # what the program opens with
    for path in chars.values():
        m = read_bundle(path).manifest
        assert (m.base_preset, m.driving_mode, m.resolution) == ("toon", "proxy", 128), path


def _sources(name: str):
    from puppet.sources import load_sources

    pattern, params_file, precropped = SOURCES[name]
    paths = sorted(ASSETS.glob(pattern))
    params = [P.from_dict(v) for v in json.loads((ASSETS / params_file).read_text())]
    return load_sources(paths, 128, precropped=precropped), params


@pytest.fixture(scope="module")
def engines():
    chars = {p.stem: p for p in demo_characters()}
    loaded = {name: Engine.load(chars[name], EngineConfig(device="cpu")) for name in SOURCES}
    yield loaded
    for e in loaded.values():
        e.close()


def test_each_demo_character_draws_itself(engines):
    """Driven with the expression of its first source image, each character's output is far closer
    to that image than to any other character's (measured: 0.03-0.045 against 0.135 or more)."""
    firsts = {name: _sources(name) for name in SOURCES}
    for name, engine in engines.items():
        _, params = firsts[name]
        driver = to_tensor(DriverPreparer(engine.manifest).image(None, None, params[0]))
        out = engine.run(driver)
        drawn = out.rgb[0] * out.mask[0]
        errors = {other: float(np.abs(drawn - s.images[0] * s.masks[0]).mean()) for other, (s, _) in firsts.items()}
        own = errors.pop(name)
        assert own < 0.5 * min(errors.values()), (name, own, errors)


def test_the_demo_characters_follow_the_driver():
    """Driven by the proxy, each demo character shuts its eyes, turns, nods and tilts its head
    with the driver (`puppet-export follow`; figures measured when they were committed are in the
    README, beside those of the true renders of the procedural identities)."""
    from export.train.evaluate import character_follow

    # Thresholds under what was measured (eyes 0.031-0.221, yaw 7.9-11.1 px, roll 39-43 degrees)
    # and over what the characters of earlier base models gave (20000 steps: eyes 0.000-0.003,
    # yaw -0.2 to +0.2 px, roll 0 degrees; 26000 steps: eyes 0.015-0.240, yaw 3.3-9.3 px, roll
    # 24-31 degrees).
    for path in demo_characters():
        if path.stem not in SOURCES:
            continue
        r = character_follow(path)
        assert r["eyes_change"] > 0.02, r
        assert r["yaw_shift_px"] > 5, r
        assert r["roll_deg"] > 33, r


def test_the_base_model_reads_the_expressions_of_source_images():
    """What fine-tuning takes a source image's expression to be when none is given: the base's
    read-out of the pose code. On the held-out procedural characters' sources it agrees with the
    truth, and on Mina's drawings with the hand-read values, in what the sources vary."""
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
