"""`puppet-export character --iterations 0`: feed-forward characters, and what bad input gets."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import ADVENTURER
from PIL import Image

from export.base_model import load_base
from puppet.bundle import read_bundle
from puppet.sources import load_sources


def character(*args):
    return subprocess.run([sys.executable, "-m", "export.cli", "character", *map(str, args)],
                          capture_output=True, text=True)


def test_feedforward_identity_is_mean_embedding(tiny_base, tmp_path):
    images = [ADVENTURER / f"mina_{i}.png" for i in (0, 2, 5)]
    out = tmp_path / "mina.puppet"
    run = character("--base", tiny_base, *images, "-o", out, "--iterations", "0", "--precropped")
    assert run.returncode == 0, run.stderr
    bundle = read_bundle(out)
    assert bundle.manifest.num_source_images == 3 and bundle.manifest.driving_mode == "proxy"
    base = load_base(tiny_base)
    src = load_sources(images, 32, precropped=True)
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        identity = base.model.identity(torch.from_numpy(src.images * src.masks)[None])
        rgb, mask = base.model(identity.expand(2, -1), torch.from_numpy(x))
    got = ort.InferenceSession(bundle.graph, providers=["CPUExecutionProvider"]).run(None, {"driver": x})
    np.testing.assert_allclose(got[0], rgb.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], mask.numpy(), rtol=1e-4, atol=1e-5)


def test_compact_bundle_stores_fp16_weights_and_computes_the_same(tiny_base, tmp_path):
    import onnx

    from export.character import COMPACT_TOLERANCE
    from export.onnx_export import tensors_feeding

    images = [ADVENTURER / f"mina_{i}.png" for i in (0, 2)]
    plain, compact = tmp_path / "plain.puppet", tmp_path / "compact.puppet"
    for out, extra in ((plain, ["--no-fp16"]), (compact, ["--compact"])):
        run = character("--base", tiny_base, *images, "-o", out, "--iterations", "0", "--precropped", *extra)
        assert run.returncode == 0, run.stderr
    small, full = read_bundle(compact), read_bundle(plain)
    assert small.graph_fp16 is None and len(small.graph) < 0.9 * len(full.graph)
    graph = onnx.load_from_string(small.graph).graph
    assert any(w.data_type == onnx.TensorProto.FLOAT16 for w in graph.initializer)
    # What computes the pose code stays float32: the generator amplifies its errors.
    feeds_pose = tensors_feeding(graph, "pose")
    pose_weights = [w for w in graph.initializer if w.name in feeds_pose]
    assert pose_weights and all(w.data_type == onnx.TensorProto.FLOAT for w in pose_weights)
    x = np.random.default_rng(1).random((2, 3, 32, 32), dtype=np.float32)
    got, want = (ort.InferenceSession(b.graph, providers=["CPUExecutionProvider"]).run(None, {"driver": x})
                 for b in (small, full))
    for g, w in zip(got, want):
        assert g.dtype == np.float32 and np.abs(g - w).max() <= COMPACT_TOLERANCE * np.abs(w).max()


def test_compact_bundle_that_strays_keeps_float32_weights(tiny_base, tmp_path, monkeypatch, caplog):
    import onnx

    import export.character as character_module
    from export.character import CharacterOptions, make_character

    monkeypatch.setattr(character_module, "COMPACT_TOLERANCE", 0.0)  # no fp16 rounding passes
    out = make_character(tiny_base, [ADVENTURER / "mina_0.png"], tmp_path / "c.puppet",
                         CharacterOptions(name="c", iterations=0, precropped=True, compact=True))
    graph = onnx.load_from_string(read_bundle(out).graph).graph
    assert all(w.data_type != onnx.TensorProto.FLOAT16 for w in graph.initializer)
    assert "writing float32 weights instead" in caplog.text


def test_grayscale_and_rgb_inputs(tiny_base, tmp_path):
    gray = tmp_path / "gray.png"
    Image.open(ADVENTURER / "yuna_0.png").convert("L").save(gray)
    flat = tmp_path / "flat.jpg"
    im = Image.open(ADVENTURER / "seojun_0.png")
    bg = Image.new("RGBA", im.size, (240, 240, 240, 255))
    bg.alpha_composite(im)
    bg.convert("RGB").save(flat)
    run = character("--base", tiny_base, gray, flat, "-o", tmp_path / "two.puppet", "--iterations", "0",
                    "--precropped")
    assert run.returncode == 0, run.stderr
    assert f"{gray}: the image is grayscale" in run.stderr and f"{flat}: the image is grayscale" not in run.stderr
    src = load_sources([flat], 64, precropped=True)
    area = float((src.masks > 0.5).mean())
    assert 0.2 < area < 0.8  # the estimated mask found the drawing on its flat background


@pytest.mark.parametrize("kind", ["corrupt", "tiny", "transparent", "missing"])
def test_bad_images_fail_cleanly(tiny_base, tmp_path, kind):
    bad = tmp_path / f"{kind}.png"
    if kind == "corrupt":
        bad.write_bytes((ADVENTURER / "mina_0.png").read_bytes()[:300])
    elif kind == "tiny":
        Image.new("RGB", (10, 10), "white").save(bad)
    elif kind == "transparent":
        Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(bad)
    out = tmp_path / "x.puppet"
    run = character("--base", tiny_base, ADVENTURER / "mina_0.png", bad, "-o", out, "--iterations", "0")
    assert run.returncode == 1
    assert bad.name in run.stderr and "Traceback" not in run.stderr
    assert list(tmp_path.glob("*.puppet")) == [] and list(tmp_path.glob(".*partial")) == []


def test_no_images_and_missing_base(tiny_base, tmp_path):
    run = character("--base", tiny_base, "-o", tmp_path / "x.puppet", "--iterations", "0")
    assert run.returncode == 2 and "no source images" in run.stderr
    run = character("--base", tmp_path / "nope.safetensors", ADVENTURER / "mina_0.png", "-o",
                    tmp_path / "x.puppet", "--iterations", "0")
    assert run.returncode == 1 and "nope.safetensors" in run.stderr


def test_more_than_sixteen_images_are_refused_with_the_reason(tiny_base, tmp_path):
    images = sorted(ADVENTURER.glob("*.png"))[:17]
    out = tmp_path / "x.puppet"
    run = character("--base", tiny_base, *images, "-o", out, "--iterations", "0", "--precropped")
    assert run.returncode == 1 and "17 images given; a character takes at most 16" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


def test_tensorrt_absent_is_a_clear_error(tiny_bundle, tmp_path):
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here: the error path does not apply")
    except ImportError:
        pass
    run = subprocess.run([sys.executable, "-m", "export.cli", "tensorrt", str(tiny_bundle), "-o",
                          str(tmp_path / "x.plan")], capture_output=True, text=True)
    assert run.returncode == 1 and "TensorRT is not installed" in run.stderr
    assert not (tmp_path / "x.plan").exists()


def test_drawings_are_framed_alike():
    """Face tracking finds a face in some drawings only; the set is then cropped by the drawings'
    bounding boxes, all alike, with the drawing's centre where the proxy head's centre is."""
    src = load_sources(sorted(ADVENTURER.glob("mina_*.png")), 64)
    tops, centres = [], []
    for m in src.masks[:, 0]:
        ys = np.nonzero(m > 0.5)[0]
        tops.append(ys.min())
        centres.append((ys.min() + ys.max()) / 2)
    assert max(tops) - min(tops) <= 3
    assert abs(np.mean(centres) - 0.42 * 64) < 3


def test_expressions_command_writes_what_params_reads(tiny_base, tmp_path):
    """The estimate a person checks is the file `character --params` takes; null leaves one to the estimate."""
    import json

    from export.cli import _read_params, main
    from puppet import params as P

    images = [ADVENTURER / f"mina_{i}.png" for i in (0, 2, 5)]
    out = tmp_path / "expressions.json"
    assert main(["expressions", "--base", str(tiny_base), "--precropped", *map(str, images), "-o", str(out)]) == 0
    values = json.loads(out.read_text())
    assert len(values) == 3 and all(set(v) - {"uncertain"} == set(P.PARAM_NAMES) for v in values)
    values[1] = None
    out.write_text(json.dumps(values))
    given = _read_params(out, 3)
    assert np.isnan(given[1]).all() and not np.isnan(given[[0, 2]]).any()
    np.testing.assert_allclose(given[0], P.from_dict({k: v for k, v in values[0].items() if k != "uncertain"}))


def test_the_proxy_seed_goes_from_the_base_file_into_the_bundle_and_its_measures(tiny_base, tmp_path):
    from safetensors.torch import load_file, save_file

    from export.base_model import UNSTORED_PROXY_SEED, read_metadata, save_base
    from export.character import CharacterOptions, make_character
    from export.train.evaluate import follow_pictures
    from export.train.renders import proxy_render
    from puppet import params as P

    base = load_base(tiny_base)
    base.proxy_seed = 7
    seven = save_base(base, tmp_path / "seven.safetensors")
    assert read_metadata(seven)["proxy_seed"] == "7" and load_base(seven).proxy_seed == 7
    out = make_character(seven, [ADVENTURER / "mina_0.png"], tmp_path / "seven.puppet",
                         CharacterOptions(name="seven", iterations=0, precropped=True, fp16=False))
    assert read_bundle(out).manifest.proxy_seed == 7
    drivers, pictures, seed = follow_pictures(out)  # measured with the proxy that drives it live
    assert seed == 7 and pictures.shape == drivers.shape
    np.testing.assert_array_equal(drivers[0], proxy_render(P.neutral(), 32, 7))
    assert np.abs(drivers[0] - proxy_render(P.neutral(), 32, 0)).mean() > 0.01
    # A file from before the seed was stored: the seed every base was trained with until then.
    meta = {k: v for k, v in read_metadata(tiny_base).items() if k != "proxy_seed"}
    older = tmp_path / "older.safetensors"
    save_file(load_file(str(tiny_base)), str(older), metadata=meta)
    assert load_base(older).proxy_seed == UNSTORED_PROXY_SEED == 0


def test_the_shipped_base_and_its_characters_agree_on_the_proxy_seed():
    from conftest import ASSETS

    from puppet.assets import DEFAULT_BASE

    seed = load_base(DEFAULT_BASE, with_discriminator=False).proxy_seed
    assert seed == 0
    assert {read_bundle(p).manifest.proxy_seed for p in (ASSETS / "characters").glob("*.puppet")} == {seed}


def test_an_export_that_differs_from_pytorch_is_refused_and_nothing_written(tiny_base, tmp_path, monkeypatch):
    """The parity check's tolerance lets float order through, not a wrong graph."""
    import copy

    import torch

    import export.character as character_module
    from export.character import CharacterOptions, make_character

    exact = character_module.export_onnx

    def skewed(graph, resolution):
        other = copy.deepcopy(graph)
        with torch.no_grad():
            for p in other.parameters():
                p.mul_(1.02)
        return exact(other, resolution)

    monkeypatch.setattr(character_module, "export_onnx", skewed)
    out = tmp_path / "c.puppet"
    with pytest.raises(RuntimeError, match="differs from PyTorch"):
        make_character(tiny_base, [ADVENTURER / "mina_0.png"], out,
                       CharacterOptions(name="c", iterations=0, precropped=True))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag, soft_edge", [((), None), (("--head-edge", "soft"), True),
                                             (("--head-edge", "sphere"), False)])
def test_the_head_edge_option_reaches_the_character(monkeypatch, tmp_path, flag, soft_edge):
    """``--head-edge`` chooses how a warp character's head turns at its outline; without it the
    character decides by how its images are framed (tests/test_assets.py)."""
    from export import character as making
    from export.cli import main

    seen = []
    monkeypatch.setattr(making, "make_character", lambda base, images, out, opts, **kwargs: seen.append(opts) or out)
    assert main(["character", str(ADVENTURER / "mina_0.png"), "-o", str(tmp_path / "c.puppet"), *flag]) == 0
    assert seen[0].soft_edge is soft_edge
