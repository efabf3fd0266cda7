"""Every preset builds, runs forward and backward, and exports to an ONNX graph that onnxruntime
runs with the same results as PyTorch."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.models import PRESETS, Discriminator, create_model
from export.onnx_export import (
    OUTPUT_NAMES,
    character_graph,
    check_parity,
    export_onnx,
    to_fp16,
)


@pytest.fixture(scope="module", params=sorted(PRESETS))
def preset(request):
    torch.manual_seed(0)
    return request.param, create_model(request.param)


def test_forward_backward_no_nan(preset):
    name, model = preset
    cfg = model.cfg
    batch = 1 if name == "lpr256" else 2
    model.train()
    frames = torch.rand(batch, 2, 3, cfg.resolution, cfg.resolution)
    driver = torch.rand(batch, 3, cfg.resolution, cfg.resolution)
    identity = model.identity(frames)
    rgb, mask = model(identity, driver)
    assert rgb.shape == (batch, 3, cfg.resolution, cfg.resolution)
    assert mask.shape == (batch, 1, cfg.resolution, cfg.resolution)
    assert float(mask.detach().min()) >= 0 and float(mask.detach().max()) <= 1
    assert float(rgb.detach().min()) >= -0.25 and float(rgb.detach().max()) <= 1.25
    disc = Discriminator(cfg)
    score, feats = disc(rgb * mask, identity)
    assert score.shape == (batch,) and len(feats) == len(cfg.disc_channels)
    (score.mean() + (rgb * mask).mean()).backward()
    grads = [p.grad for p in model.generator.parameters() if p.grad is not None]
    assert len(grads) == len(list(model.generator.parameters()))
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
    enc_grads = [p.grad for p in model.pose_encoder.parameters() if p.grad is not None]
    assert enc_grads and all(torch.isfinite(g).all() for g in enc_grads)


def test_onnx_parity_fp32(preset):
    name, model = preset
    graph = character_graph(model, torch.randn(1, model.cfg.identity_dim))
    blob = export_onnx(graph, model.cfg.resolution)
    report = check_parity(graph, blob, model.cfg.resolution, batch=1 if name == "lpr256" else 3)
    assert report.ok, f"{name}: onnxruntime differs from PyTorch by {report.max_rel_error:.2e}"
    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["driver"]
    assert [o.name for o in sess.get_outputs()] == list(OUTPUT_NAMES)
    assert sess.get_outputs()[2].shape[1] == model.cfg.pose_dim


def test_frozen_identity_matches_model():
    """Folding the identity into the MLP bias gives the model's own output for that identity."""
    torch.manual_seed(1)
    model = create_model("tiny").eval()
    identity = torch.randn(1, model.cfg.identity_dim)
    driver = torch.rand(4, 3, 32, 32)
    graph = character_graph(model, identity)
    with torch.no_grad():
        rgb, mask = model(identity.expand(4, -1), driver)
        rgb2, mask2, pose = graph(driver)
    torch.testing.assert_close(rgb2, rgb, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mask2, mask, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pose, model.pose(driver))
    # A different identity changes the picture: the identity really is in the graph.
    other = character_graph(model, torch.randn(1, model.cfg.identity_dim))
    with torch.no_grad():
        assert float((other(driver)[0] - rgb2).abs().max()) > 1e-3


def test_fp16_graph_close_to_fp32():
    torch.manual_seed(2)
    model = create_model("toon").eval()
    graph = character_graph(model, torch.randn(1, model.cfg.identity_dim))
    blob = export_onnx(graph, 128)
    x = np.random.default_rng(0).random((1, 3, 128, 128), dtype=np.float32)
    full = ort.InferenceSession(blob, providers=["CPUExecutionProvider"]).run(None, {"driver": x})
    half = ort.InferenceSession(to_fp16(blob), providers=["CPUExecutionProvider"]).run(None, {"driver": x})
    for a, b in zip(full[:2], half[:2]):
        assert b.dtype == np.float32
        assert np.abs(a - b).max() < 0.05


def test_released_architecture_sizes():
    """lpr256 is the released configuration (numbers from the authors' model)."""
    model = create_model("lpr256")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert round(count(model.identity_encoder) / 1e6, 1) == 24.0
    assert round(count(model.pose_encoder) / 1e6, 2) == 2.55
    assert round(count(model.generator) / 1e6, 1) == 37.5
    assert len(model.generator.adain_sizes) == 17
    assert sum(model.generator.adain_sizes) == 6528
    assert model.generator.mlp[2].out_features == 13056
