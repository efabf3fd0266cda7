"""Making a character in the program: a review page set with presets and keys (at most two per
image for the labelled expressions of the drawn styles), uncertain readings marked, and
fine-tuning in the background, shown in the gallery (progress, time left, low priority, cancel,
failure, nothing left in the temp directory). Broken bundles in the gallery cannot be chosen."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import ADVENTURER, ASSETS  # noqa: E402
from PySide6.QtCore import QProcess, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QSlider  # noqa: E402
from test_gui import _wait_frames, window  # noqa: E402, F401  (the main window fixture)

from puppet import params as P  # noqa: E402

MINA = sorted(ADVENTURER.glob("mina_*.png"))
K = Qt.Key

# The eight labelled expressions of the lorelei drawings (rest, eyes shut, wink, small open mouth,
# surprise, smile, frown, angry) as the labels give them (names not given are at rest), and the
# key a person presses for each.
LABELLED = [
    ({}, K.Key_1),
    ({"eye_open_l": 0, "eye_open_r": 0}, K.Key_2),
    ({"eye_open_l": 0, "eye_open_r": 1}, K.Key_3),
    ({"mouth_open": 0.35}, K.Key_5),
    ({"eye_open_l": 1.25, "eye_open_r": 1.25, "brow_l": 0.8, "brow_r": 0.8, "mouth_open": 0.7}, K.Key_6),
    ({"smile": 0.8}, K.Key_7),
    ({"smile": -0.8}, K.Key_8),
    ({"brow_l": -0.9, "brow_r": -0.9}, K.Key_0),
]


def _open_review(qtbot, images, base, library):
    from puppet.gui.create_character import CreateCharacterDialog, NewCharacterConfig

    d = CreateCharacterDialog(images, NewCharacterConfig(base=base), library)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    d.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is d)  # the page's keys are window shortcuts
    return d


def _face(values: np.ndarray) -> dict[str, float]:
    return {n: float(values[P.INDEX[n]]) for n in P.FACE_NAMES}


def test_each_labelled_expression_takes_at_most_two_keys(qtbot, tiny_base, tmp_path):
    d = _open_review(qtbot, MINA, tiny_base, tmp_path)
    qtbot.waitUntil(lambda: d.known.all(), timeout=60000)  # the reader's values, to be corrected
    read = d.expr.copy()
    slider = d.sliders.findChildren(QSlider)[0]
    keys = [0] * len(MINA)  # pressed for each image, moving to it included
    for i, (_, key) in enumerate(LABELLED):
        if i:
            qtbot.keyClick(slider if i % 2 else d.rows, K.Key_Down if i % 2 else K.Key_PageDown)
            keys[i] += 1
        assert d.rows.currentRow() == i
        qtbot.keyClick(d.rows, key)
        keys[i] += 1
    assert max(keys) <= 2
    for i, (label, _) in enumerate(LABELLED):
        assert _face(d.expr[i]) == pytest.approx(_face(P.make(**label)), abs=1e-6), i
        others = [j for j in range(P.NUM_PARAMS) if P.PARAM_NAMES[j] not in P.FACE_NAMES]
        np.testing.assert_array_equal(d.expr[i, others], read[i, others])  # head pose and gaze as read
    assert d.by_hand.all() and all("\u2713" in d.rows.item(i).text() for i in range(len(MINA)))
    # Going back shows the values set, not the sliders' rounding of them.
    qtbot.keyClick(d.rows, K.Key_Up)
    assert d.rows.currentRow() == len(MINA) - 2
    assert _face(d.expr[4]) == pytest.approx(_face(P.make(**LABELLED[4][0])), abs=1e-6)


def test_presets_combine_and_sliders_adjust(qtbot, tiny_base, tmp_path):
    d = _open_review(qtbot, MINA[:3], tiny_base, tmp_path)
    d.step(1)
    # An open smile in two clicks: the second, with Shift, adds to the first.
    qtbot.mouseClick(d.presets["smile"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(d.presets["mouth open"], Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier)
    assert _face(d.expr[1]) == pytest.approx(_face(P.make(smile=0.8, mouth_open=0.35)), abs=1e-6)
    qtbot.keyClick(d.rows, K.Key_2, Qt.KeyboardModifier.ControlModifier)  # Ctrl+key adds as well: a blink
    assert _face(d.expr[1]) == pytest.approx(_face(P.make(smile=0.8, mouth_open=0.35, eye_open_l=0,
                                                            eye_open_r=0)), abs=1e-6)
    qtbot.mouseClick(d.presets["frown"], Qt.MouseButton.LeftButton)  # a plain click replaces the face
    assert _face(d.expr[1]) == pytest.approx(_face(P.make(smile=-0.8)), abs=1e-6)
    adjusted = d.expr[1].copy()
    adjusted[P.INDEX["smile"]] = -0.5
    d.sliders.set_values(adjusted)
    assert d.expr[1][P.INDEX["smile"]] == pytest.approx(-0.5, abs=0.02)  # fine adjustment
    qtbot.keyClick(d.name, K.Key_5)  # the name field keeps its digits
    assert d.name.text().endswith("5") and d.expr[1][P.INDEX["smile"]] == pytest.approx(-0.5, abs=0.02)
    # What was set by hand outlives the readings that arrive later; the others take the readings.
    qtbot.waitUntil(lambda: d.known.all(), timeout=60000)
    assert d.expr[1][P.INDEX["smile"]] == pytest.approx(-0.5, abs=0.02)
    assert d.by_hand.tolist() == [False, True, False]


def test_uncertain_readings_are_marked(qtbot, tmp_path):
    d = _open_review(qtbot, MINA[:5], tmp_path / "no-base.safetensors", tmp_path)
    qtbot.waitUntil(lambda: d.reader.state() == QProcess.ProcessState.NotRunning, timeout=60000)
    assert "Could not read" in d.expr_note.text() and not d.known.any()
    labels = json.loads((ADVENTURER / "mina.params.json").read_text())[:5]
    flags = [True, False, 0.9, 0.1, None]  # flags, scores, or nothing said
    text = json.dumps([{**v, **({} if f is None else {"uncertain": f})} for v, f in zip(labels, flags)])
    values, uncertain = P.parse_expressions(text, 5)
    assert uncertain.tolist() == [True, False, True, False, False]
    d.take_readings(values, uncertain)
    marked = [d.rows.item(i).text().endswith("?") for i in range(5)]
    assert marked == [True, False, True, False, False]
    assert "uncertain" in d.rows.item(0).toolTip() and "2 of 5 uncertain" in d.expr_note.text()
    np.testing.assert_allclose(d.expr, np.stack([P.from_dict(v) for v in labels]))
    # Mina's first five drawings have open mouths but no shut eyes (her seventh has them).
    assert "shut eyes" in d.missing_note.text() and "mouth" not in d.missing_note.text()
    d.apply_preset("smile")  # the first row, checked now
    assert not d.rows.item(0).text().endswith("?") and d.rows.item(0).toolTip() == ""
    d.rows.setCurrentRow(1)
    d.apply_preset("wink left")
    assert "right eye shut" in d.missing_note.text() and "shut eyes" not in d.missing_note.text()
    d.apply_preset("blink")
    assert d.missing_note.text() == ""


def _fake_job(tmp_path, script: str):
    """A job whose process is a stand-in that reports as the fine-tuning command does (given the
    first image's working copy, as the command is)."""
    from puppet.gui.finetune_job import FinetuneJob, prepare_workdir

    workdir, copies, params = prepare_workdir(MINA[:2], [None, P.as_dict(P.make(smile=0.8))])
    job = FinetuneJob("fake", tmp_path / "library" / "fake.puppet", workdir,
                      [sys.executable, "-c", script, str(copies[0])],
                      thumbnail=MINA[0], renames={str(c): str(p) for c, p in zip(copies, MINA)})
    return job, copies, params


def test_a_gallery_job_shows_progress_runs_low_and_cancels_without_a_trace(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PUPPET_DATA_DIR", str(tmp_path / "data"))
    from puppet.gui.finetune_job import NICENESS, seconds_left
    from puppet.gui.gallery import Gallery

    assert seconds_left((10.0, 1), (14.0, 3), 10) == pytest.approx(14.0)  # 2 s a step, 7 steps to go
    assert seconds_left((10.0, 1), (10.0, 1), 10) is None
    script = ("import json, sys, time\n"
              "for s in (1, 2):\n"
              "    print(json.dumps({'step': s, 'total': 4}), flush=True); time.sleep(0.2)\n"
              "time.sleep(60)\n")
    job, copies, params = _fake_job(tmp_path, script)
    assert json.loads(params.read_text()) == [None, P.as_dict(P.make(smile=0.8))]
    assert [c.read_bytes() for c in copies] == [p.read_bytes() for p in MINA[:2]]
    gallery = Gallery()
    qtbot.addWidget(gallery)
    gallery.refresh()
    gallery.show()
    gallery.add_job(job)
    job.start()
    qtbot.waitUntil(lambda: job.step == 2, timeout=20000)
    row = gallery.job_widget(job)
    assert (row.bar.value(), row.bar.maximum()) == (2, 4)
    assert row.status.text().startswith("50 %") and "left" in row.status.text() and row.button.text() == "Cancel"
    if os.name == "posix":
        pid = job.process.processId()
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(os.getpriority(os.PRIO_PROCESS, 0) + NICENESS, 19)
    gallery.setCurrentRow(gallery.job_row(job))
    with qtbot.waitSignal(gallery.job_ended) as ended:
        qtbot.keyClick(gallery, K.Key_Delete)
    assert ended.args[0].state == "cancelled"
    assert job.process.state() == QProcess.ProcessState.NotRunning
    assert not job.workdir_path.exists() and gallery.jobs == [] and gallery.count() == len(gallery.entries)


def test_a_failed_job_says_why_until_dismissed(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PUPPET_DATA_DIR", str(tmp_path / "data"))
    from puppet.gui.gallery import Gallery

    # As the command names a source it refuses: by the path it was given, the working copy's.
    script = "import sys; print(f'puppet-export: {sys.argv[1]}: no face found', file=sys.stderr); sys.exit(1)"
    job, _, _ = _fake_job(tmp_path, script)
    gallery = Gallery()
    qtbot.addWidget(gallery)
    gallery.refresh()
    gallery.add_job(job)
    with qtbot.waitSignal(gallery.job_ended, timeout=20000):
        job.start()
    assert job.state == "failed" and job.error == f"{MINA[0]}: no face found"  # the image's own path
    assert not job.workdir_path.exists()
    row = gallery.job_widget(job)
    row_text = row.status.text()
    assert row_text == f"failed: {MINA[0]}: no face found" and row.button.text() == "Dismiss"
    gallery.refresh()  # the failure stays listed across refreshes
    assert gallery.jobs == [job] and gallery.job_widget(job).status.text() == row_text
    qtbot.mouseClick(gallery.job_widget(job).button, Qt.MouseButton.LeftButton)
    assert gallery.jobs == [] and gallery.count() == len(gallery.entries)


def test_fine_tuning_runs_in_the_background_while_the_live_view_goes_on(qtbot, window, tiny_base):
    from puppet.gui.create_character import NewCharacterConfig

    w = window
    w.new_character = NewCharacterConfig(base=tiny_base, iterations=2)
    w.controls.source.setCurrentText("demo clip")
    w.select_row([e.name for e in w.gallery.entries].index("tiny-proxy"))
    w.restart()
    _wait_frames(qtbot, w)
    images = sorted((ASSETS / "sources" / "procedural").glob("head1000004_[01].png"))
    d = w.new_character_dialog(images)
    d.step(1)
    d.apply_preset("wink left")
    d.name.setText("fresh")
    job = d.start()
    assert not d.isVisible() and job in w.gallery.jobs  # the page closed; the gallery shows the job
    assert "background" in w.statusBar().currentMessage()
    assert json.loads((job.workdir_path / "params.json").read_text())[1]["eye_open_l"] == 0
    w.gallery.setCurrentRow(w.gallery.job_row(job))  # a job's row is not a character to show
    assert w.current_character().name == "tiny-proxy"
    _wait_frames(qtbot, w)  # the live view goes on
    qtbot.waitUntil(lambda: not job.running, timeout=120000)
    assert job.state == "done", job.error
    fresh = [e for e in w.gallery.entries if e.name == "fresh"]
    assert len(fresh) == 1 and fresh[0].problem is None and fresh[0].path == job.output
    assert not job.workdir_path.exists() and w.gallery.jobs == []
    assert "fresh is ready" in w.statusBar().currentMessage()
    # Not switched under the user; the highlight is back on what is shown.
    assert w.current_character().name == "tiny-proxy" and w.pipeline.running
    assert w.gallery.entries[w.gallery.currentRow()].name == "tiny-proxy"
    _wait_frames(qtbot, w)
    assert w.last_result.character == "tiny-proxy"


def test_a_broken_bundle_is_listed_and_cannot_be_chosen(qtbot, window, tiny_bundle):
    from puppet.library import user_characters_dir

    w = window
    w.select_row([e.name for e in w.gallery.entries].index("tiny-proxy"))
    w.restart()
    _wait_frames(qtbot, w)
    data = Path(tiny_bundle).read_bytes()
    (user_characters_dir() / "half.puppet").write_bytes(data[: len(data) // 2])
    w.gallery.refresh()
    names = [e.name for e in w.gallery.entries]
    row = names.index("half")
    item = w.gallery.item(row)
    assert "(broken)" in item.text() and "truncated" in item.toolTip()
    w.select_row(row)
    assert w.gallery.currentRow() == names.index("tiny-proxy")  # the highlight stays on what is shown
    assert "half cannot be used" in w.statusBar().currentMessage() and "truncated" in w.statusBar().currentMessage()
    _wait_frames(qtbot, w)
    assert w.last_result.character == "tiny-proxy"
