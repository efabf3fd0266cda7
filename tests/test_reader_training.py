"""The reader's training writes its checkpoint and its graph whole: what it leaves is either the
previous file or the new one, and the graph computes what the network does."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.reader.model import ReaderNet
from export.reader.train import _save_checkpoint, export_onnx
from puppet.expression_reader import IN_CHANNELS, WINDOW


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
