"""The engine: a real (tiny, random-weight) character graph through onnxruntime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from puppet.bundle import GRAPH, BundleError, read_bundle, write_bundle
from puppet.engine import (
    PROVIDER_NAMES,
    Engine,
    EngineConfig,
    EngineError,
    make_session,
)


@pytest.fixture(scope="module")
def engine(tiny_face_bundle) -> Engine:
    return Engine.load(tiny_face_bundle, EngineConfig(device="cpu"))


def drivers(n: int, side: int) -> np.ndarray:
    return np.random.default_rng(1).random((n, 3, side, side), dtype=np.float32)


def test_runs_the_graph_like_a_plain_session(engine, tiny_face_bundle):
    r = engine.driver_resolution
    x = drivers(2, r)
    out = engine.run(x)
    assert out.rgb.shape == (2, 3, r, r) and out.mask.shape == (2, 1, r, r)
    assert out.pose.shape == (2, engine.manifest.pose_dim)
    assert out.rgb.dtype == out.mask.dtype == np.float32
    assert 0.0 <= out.mask.min() and out.mask.max() <= 1.0
    plain = ort.InferenceSession(read_bundle(tiny_face_bundle).graph, providers=["CPUExecutionProvider"])
    rgb, mask, pose = plain.run(["rgb", "mask", "pose"], {"driver": x})
    np.testing.assert_allclose(out.rgb, rgb, atol=1e-5)
    np.testing.assert_allclose(out.mask, mask, atol=1e-5)
    np.testing.assert_allclose(out.pose, pose, atol=1e-6)
    assert engine.drawings == 0 and out.choice is None  # a synthesis graph chooses no drawings


@pytest.mark.parametrize("which", ["synthesis", "warp"])
def test_the_device_binding_runs_the_graph_like_a_plain_session(which, tiny_face_bundle):
    """The fixed buffers that CUDA graph replay runs on, bound here on the CPU: the same inputs
    (a warp character's previous choice included) give the same outputs, in the same order."""
    from puppet.assets import first_demo_character
    from puppet.engine import _BoundRunner

    bundle = read_bundle(tiny_face_bundle if which == "synthesis" else first_demo_character())
    session = make_session(bundle.graph, [], intra_op_threads=1)
    runner = _BoundRunner(session, bundle.manifest, device="cpu")
    x = drivers(1, bundle.manifest.driver_resolution)
    feeds, held = {"driver": x}, []
    if which == "warp":
        # far more than a real choice (at most 1) holds: every region keeps the drawing it is given
        # (one for all: Mina's regions take no drawing but the rest's, see export/models/strokes.py)
        held = [None, 1000 * np.eye(session.get_inputs()[1].shape[-1], dtype=np.float32)[[5, 5, 5, 5]][None]]
    for previous in held or [None]:
        if which == "warp":
            feeds["previous_choice"] = np.zeros_like(held[1]) if previous is None else previous
        want = session.run(None, feeds)
        got = runner.run(x, previous)
        assert [o.name for o in session.get_outputs()] == list(runner.outputs)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, atol=1e-6)
    if which == "warp":  # the previous choice reached the graph
        assert runner.run(x, None)[-1][0].argmax(-1).tolist() != [5, 5, 5, 5]
        assert runner.run(x, held[1])[-1][0].argmax(-1).tolist() == [5, 5, 5, 5]


def test_reports_the_provider_that_actually_runs(tiny_face_bundle):
    e = Engine.load(tiny_face_bundle)  # auto: TensorRT, CUDA, CPU
    assert e.provider == PROVIDER_NAMES[e._session.get_providers()[0]]
    if e.provider == "CPU":  # no usable GPU here: a notice, never an exception
        assert e.notice and "CPU" in e.notice and "CUDA" in e.notice
    else:
        assert e.notice is None


# Loads a bundle twice with no GPU visible to CUDA (whatever the machine has); prints what it saw.
_HIDDEN_GPU = """
import json, logging, sys
import numpy as np
from puppet.engine import Engine, EngineConfig
logging.basicConfig(level=logging.WARNING, format="LOG %(message)s")
first, second = (Engine.load(sys.argv[1], EngineConfig(device=sys.argv[2])) for _ in range(2))
out = second.run(np.full((1, 3, second.driver_resolution, second.driver_resolution), 0.5, np.float32))
print(json.dumps({"providers": [first.provider, second.provider], "notices": [first.notice, second.notice],
                  "shape": list(out.rgb.shape)}))
"""


@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_a_gpu_device_that_is_not_there_falls_back_to_cpu(tiny_face_bundle, device):
    """With CUDA shown no device the engine runs on the CPU and says why on every load, leaving
    it to its caller to tell the user (it logs no warning); a fresh process, so that no GPU is
    already initialised in it."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, "-c", _HIDDEN_GPU, str(tiny_face_bundle), device],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["providers"] == ["CPU", "CPU"]
    notice, again = seen["notices"]
    assert notice.startswith("running on the CPU: ") and again == notice
    assert {"cuda": "CUDA", "tensorrt": "TensorRT"}[device] in notice
    assert [line for line in run.stderr.splitlines() if line.startswith("LOG ")] == []
    assert seen["shape"] == [1, 3, 32, 32]


def test_session_factory_sets_threads_and_optimisation(tiny_face_bundle):
    sess = make_session(read_bundle(tiny_face_bundle).graph, [], intra_op_threads=1)
    opts = sess.get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert sess.get_providers()[-1] == "CPUExecutionProvider"
    assert EngineConfig(intra_op_threads=3).threads() == 3


def test_wrong_driver_shape_names_the_bundle(engine):
    with pytest.raises(ValueError, match=r"\.puppet: driver must be \[N,3,"):
        engine.run(np.zeros((1, 3, 7, 7), np.float32))


def test_corrupt_bundle_is_a_clear_error(tiny_face_bundle, tmp_path):
    data = bytearray(Path(tiny_face_bundle).read_bytes())
    bad = tmp_path / "truncated.puppet"
    bad.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(BundleError, match="truncated.puppet"):
        Engine.load(bad)
    # Checksums right, graph wrong: onnxruntime's refusal is reported with the file name.
    b = read_bundle(tiny_face_bundle)
    garbage = write_bundle(tmp_path / "garbage.puppet", b.manifest, b"not an onnx graph", b.thumbnail)
    with pytest.raises(EngineError, match="garbage.puppet: onnxruntime cannot load"):
        Engine.load(garbage, EngineConfig(device="cpu"))
    # A member changed after writing: the checksum catches it.
    swapped = tmp_path / "swapped.puppet"
    with zipfile.ZipFile(tiny_face_bundle) as src, zipfile.ZipFile(swapped, "w") as dst:
        for item in src.infolist():
            payload = src.read(item)
            dst.writestr(item, payload[:-1] + b"\0" if item.filename == GRAPH else payload)
    with pytest.raises(BundleError, match="corrupt"):
        Engine.load(swapped)
