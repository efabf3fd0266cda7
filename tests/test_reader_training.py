"""The reader's training writes its checkpoint and its graph whole: what it leaves is either the
previous file or the new one, and the graph computes what the network does; labelled drawings
join it as whole characters, those left out never."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import ADVENTURER, DRAWN

from export.expression_eval import labelled_characters
from export.reader.model import ReaderNet
from export.reader.train import ReaderTrainConfig, _batch, _save_checkpoint, export_onnx, labelled_sets
from puppet import params as P
from puppet.expression_reader import FACE_SLOTS, IN_CHANNELS, RESOLUTION, WINDOW
from puppet.sources import CropRule, load_sources


def test_the_exported_reader_computes_what_the_network_does(tmp_path):
    torch.manual_seed(0)
    model = ReaderNet().eval()
    path = tmp_path / "reader" / "expressions.onnx"
    export_onnx(model, path)
    assert [p.name for p in path.parent.iterdir()] == ["expressions.onnx"]  # no temporary left
    x = np.random.default_rng(0).random((3, IN_CHANNELS, WINDOW[2], WINDOW[2]), dtype=np.float32)
    mean, log_var = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    with torch.no_grad():
        want_mean, want_log_var = model(torch.from_numpy(x))
    assert np.abs(mean - want_mean.numpy()).max() < 1e-4
    assert np.abs(log_var - want_log_var.numpy()).max() < 1e-4


def test_an_interrupted_checkpoint_leaves_the_previous_one(tmp_path, monkeypatch):
    model = ReaderNet()
    opt = torch.optim.Adam(model.parameters())
    ckpt = tmp_path / "reader.pt"
    _save_checkpoint(ckpt, model, opt, step=200, seconds=60.0)

    def interrupted(obj, f):
        with open(f, "wb") as out:
            out.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _save_checkpoint(ckpt, model, opt, step=400, seconds=120.0)
    assert [p.name for p in tmp_path.iterdir()] == ["reader.pt"]
    assert torch.load(ckpt)["step"] == 200


def test_labelled_drawings_join_training_as_whole_characters_but_those_left_out():
    folders = [DRAWN / "micah", ADVENTURER]
    sets = labelled_sets(folders, leave_out=("Jun", "mina"))
    characters = {c.name: c for folder in folders for c in labelled_characters(folder)}
    # A style's characters share their labels, so the pictures tell which ones were kept.
    for got, name in zip(sets, ["Ara", "Seoyeon", "seojun", "yuna"], strict=True):
        c = characters[name]
        want = load_sources(list(c.paths), RESOLUTION, rule=CropRule.for_driving("proxy"))
        assert got["rgb"].shape == (8, RESOLUTION, RESOLUTION, 3) and got["rgb"].dtype == np.uint8
        assert np.abs(got["rgb"] / 255 - want.images.transpose(0, 2, 3, 1)).max() <= 0.6 / 255, name  # rounded to uint8
        assert np.abs(got["mask"] / 255 - want.masks[:, 0]).max() <= 0.6 / 255, name  # rounded to uint8
        np.testing.assert_array_equal(got["labels"], c.truth[:, P.FACE_INDEX])
    with pytest.raises(FileNotFoundError, match="Mina"):  # a misspelt name would silently train on it
        labelled_sets(folders, leave_out=("Mina",))


def test_a_batch_mixes_drawings_and_procedural_sets_in_the_share_asked():
    rng = np.random.default_rng(0)
    procedural = {"rgb": rng.integers(0, 256, (3, 8, RESOLUTION, RESOLUTION, 3), dtype=np.uint8),
                  "mask": np.full((3, 8, RESOLUTION, RESOLUTION), 255, np.uint8),
                  "labels": np.full((3, 8, len(FACE_SLOTS)), -5.0, np.float32)}  # told apart by label
    drawn = labelled_sets([ADVENTURER])
    cfg = ReaderTrainConfig(sets_per_step=40, junk_share=0.0, labelled_share=0.5)
    _, y = _batch(procedural, drawn, cfg, rng)
    from_drawings = (y.numpy() != -5.0).all(axis=1).mean()
    assert 0.3 < from_drawings < 0.7
    _, y = _batch(procedural, [], cfg, rng)
    assert (y.numpy() == -5.0).all()
