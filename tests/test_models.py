"""Every preset builds, runs forward and backward, and exports to an ONNX graph that onnxruntime
runs with the same results as PyTorch."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.models import PRESETS, Discriminator, create_model
from export.onnx_export import character_graph, check_parity, export_onnx, to_fp16
from puppet import params as P
from puppet.bundle import CHOICE, INPUT, OUTPUTS, PREVIOUS_CHOICE
from puppet.heads import Identity, render_head


def frozen_references(model, count: int = 3) -> dict[str, torch.Tensor]:
    """A warp-head character's references (a procedural head's expression sheet, uint8, at twice
    the model's side), their parameters and the head showing each at the model's side; nothing
    for a synthesis head."""
    if model.warp is None:
        return {}
    side = 2 * model.cfg.resolution
    ident = Identity.from_seed(1000001)
    params = np.stack([P.neutral(), P.make(eye_open_l=0, eye_open_r=0), P.make(mouth_open=1)][:count])
    renders = [render_head(ident, p, side) for p in params]
    frames = [np.concatenate([r.rgb, (r.mask[..., None] * 255 + 0.5).astype(np.uint8)], -1) for r in renders]
    drivers = [render_head(ident, p, model.cfg.resolution).rgb.transpose(2, 0, 1) / np.float32(255) for p in params]
    return {"references": torch.from_numpy(np.stack(frames).transpose(0, 3, 1, 2).copy()),  # [R,S,S,4] -> [R,4,S,S]
            "reference_params": torch.from_numpy(params), "reference_drivers": torch.from_numpy(np.stack(drivers))}


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
    refs = {}
    if model.warp is not None:  # references at the model's side, as in meta-training
        refs = {"references": torch.rand(batch, 3, 4, cfg.resolution, cfg.resolution),
                "reference_params": torch.from_numpy(np.stack([P.neutral()] * 3)).expand(batch, -1, -1)}
    rgb, mask = model(identity, driver, **refs)
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
    graph = character_graph(model, torch.randn(1, model.cfg.identity_dim), **frozen_references(model))
    blob = export_onnx(graph, model.cfg.resolution)
    report = check_parity(graph, blob, model.cfg.resolution, batch=1 if name == "lpr256" else 3)
    assert report.ok, f"{name}: onnxruntime differs from PyTorch by {report.max_rel_error:.2e}"
    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    choosing = model.warp is not None  # a warp character also takes and gives its choice of drawings
    assert [i.name for i in sess.get_inputs()] == [INPUT] + [PREVIOUS_CHOICE] * choosing
    assert [o.name for o in sess.get_outputs()] == list(OUTPUTS) + [CHOICE] * choosing
    assert sess.get_outputs()[2].shape[1] == model.cfg.pose_dim
    if choosing:
        assert sess.get_inputs()[1].shape == [1, 4, len(graph.references)]
    if model.warp is not None:  # the references are stored once, a byte per value
        import onnx
        from onnx import TensorProto

        stored = [i for i in onnx.load_from_string(blob).graph.initializer if i.data_type == TensorProto.UINT8
                  and int(np.prod(i.dims)) == graph.references.numel()]
        assert len(stored) == 1


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
    model = create_model("toon", head="synthesis").eval()
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


def test_export_bench_times_the_programs_engine(monkeypatch):
    """``puppet-export bench``: PyTorch, and onnxruntime through the live engine, one row each; an
    fp16 graph is made only to be run (on CUDA, synthesis heads), and only what ran is an fp16 row."""
    import export.bench as bench

    converted = []
    monkeypatch.setattr(bench, "to_fp16", lambda graph: converted.append(graph) or to_fp16(graph))
    rows = bench.run_bench(bench.BenchConfig(presets=("tiny", "tiny-warp"), batch=2, warmup=1, seconds=0.05,
                                             threads=1))
    for preset in ("tiny", "tiny-warp"):
        cpu = {(r["runtime"], r["device"]): r for r in rows if r["device"] == "cpu" and r["preset"] == preset}
        assert set(cpu) == {("torch-fp32", "cpu"), ("onnxruntime-fp32", "cpu")}
        assert all(r["batch"] == 2 and r["ms_per_frame"] > 0 for r in cpu.values())
    assert not any(r["preset"] == "tiny-warp" and r["runtime"] == "onnxruntime-fp16" for r in rows)
    assert len(converted) == (1 if torch.cuda.is_available() else 0)
