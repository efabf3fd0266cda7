"""Scoring expression readers on labelled drawings (tests/data/drawn, assets/sources/adventurer)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ADVENTURER, DRAWN

from export.cli import main as export_main
from export.expression_eval import evaluate, labelled_characters, read_shuffled, rest_reader
from puppet import params as P


def test_labelled_folders_hold_whole_characters():
    for style in ("lorelei", "big-smile", "micah"):
        characters = labelled_characters(DRAWN / style)
        assert len(characters) == 3 and all(len(c.paths) == 8 for c in characters)
    adventurer = labelled_characters(ADVENTURER)  # drawn with the same variants per index
    assert [c.name for c in adventurer] == ["mina", "seojun", "yuna"]
    assert all(np.array_equal(c.truth, adventurer[0].truth) for c in adventurer)
    assert adventurer[0].truth[6, P.INDEX["eye_open_l"]] == 0.0


def test_the_trivial_answer_scores_what_the_label_tables_give():
    # lorelei, per character: both eyes shut in image 1, the left one in image 2 (3 of 16 eyes);
    # mouths open in images 3 (0.35) and 4 (0.7) (2 of 8)
    (lorelei,) = evaluate(rest_reader, [DRAWN / "lorelei"])
    assert lorelei.images == 24
    assert lorelei.eye_state == pytest.approx(13 / 16)
    assert lorelei.mouth_state == pytest.approx(6 / 8)
    assert lorelei.mouth_mae == pytest.approx((0.35 + 0.7) / 8)


def test_readings_come_back_in_file_order_whatever_order_they_were_read_in():
    def index_reader(paths):  # reads the image's index from its name: order-proof by construction
        out = np.stack([P.neutral() for _ in paths])
        out[:, P.INDEX["mouth_open"]] = [int(p.stem.rsplit("_", 1)[1]) / 10 for p in paths]
        return out

    seen = []

    def recording_reader(paths):
        seen.append([p.name for p in paths])
        return index_reader(paths)

    (character,) = labelled_characters(DRAWN / "micah")[:1]
    for seed in range(3):
        read = read_shuffled(recording_reader, character.paths, np.random.default_rng(seed))
        np.testing.assert_allclose(read[:, P.INDEX["mouth_open"]], np.arange(8) / 10, atol=1e-6)
    assert seen[0] != sorted(seen[0]) or seen[1] != sorted(seen[1])  # really read out of order


def test_eval_expressions_command_reports_each_style(capsys):
    assert export_main(["eval-expressions", str(DRAWN / "micah"), str(ADVENTURER), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    base, rest = report["base read-out"], report["rest (trivial answer)"]
    assert [s["style"] for s in base] == ["micah", "adventurer"]
    assert rest[0]["eye_state"] == pytest.approx(21 / 24)  # micah: both eyes shut in image 1 only
    for s in base:
        assert 0.0 <= s["eye_state"] <= 1.0 and s["eye_mae"] > 0.0 and s["images"] in (24, 8)


def test_a_folder_without_labels_is_named_without_a_traceback(tmp_path, capsys):
    assert export_main(["eval-expressions", str(tmp_path)]) == 1
    assert f"{tmp_path}: no NAME.params.json" in capsys.readouterr().err


def test_only_the_characters_named_are_scored():
    folders = [DRAWN / "micah", ADVENTURER]
    scores = evaluate(rest_reader, folders, only=("Jun",))
    assert [(s.style, s.images) for s in scores] == [("micah", 8)]  # adventurer has no Jun: no row
    (jun,) = [c for c in labelled_characters(DRAWN / "micah") if c.name == "Jun"]
    eyes = jun.truth[:, [P.INDEX["eye_open_l"], P.INDEX["eye_open_r"]]]
    assert scores[0].eye_mae == pytest.approx(np.abs(eyes - 1.0).mean())
    with pytest.raises(FileNotFoundError, match="Yuna"):
        evaluate(rest_reader, folders, only=("Yuna",))  # the file names it yuna
