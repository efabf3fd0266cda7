"""The ``puppet`` command: render to files that play, the character library, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import DEMO_CLIP, REPO
from PIL import Image

from puppet.bundle import read_bundle
from puppet.cli import main


@pytest.fixture(autouse=True)
def hermetic_library(tmp_path, monkeypatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("PUPPET_DATA_DIR", str(data))
    return data


def puppet(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The command as a user runs it (a fresh process: exit code, stdout, stderr)."""
    return subprocess.run([sys.executable, "-m", "puppet", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})


def one_line_error(run: subprocess.CompletedProcess, *needles: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("puppet: error:")]
    assert len(lines) == 1, run.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_characters_import_and_list(tiny_face_bundle, hermetic_library, capsys):
    assert main(["characters"]) == 0
    assert Path(tiny_face_bundle).stem not in capsys.readouterr().out  # not imported yet
    assert main(["characters", "import", str(tiny_face_bundle)]) == 0
    imported = hermetic_library / "characters" / Path(tiny_face_bundle).name
    assert imported.read_bytes() == Path(tiny_face_bundle).read_bytes()
    capsys.readouterr()
    assert main(["characters"]) == 0
    listed = capsys.readouterr().out
    assert f"{imported.stem}" in listed and "user" in listed and str(imported) in listed
    # The same name again is refused unless forced.
    assert main(["characters", "import", str(tiny_face_bundle)]) == 2
    assert "already in the library" in capsys.readouterr().err
    assert main(["characters", "import", "--force", str(tiny_face_bundle)]) == 0


def test_import_refuses_a_broken_bundle(tmp_path, hermetic_library, capsys):
    broken = tmp_path / "broken.puppet"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["characters", "import", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("puppet: error:") and "broken.puppet" in err and "Traceback" not in err
    assert not (hermetic_library / "characters" / "broken.puppet").exists()


def test_bad_input_gives_one_line_errors(tiny_face_bundle, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00" * 1000)
    good = str(tiny_face_bundle)
    one_line_error(puppet("render", "-c", "nobody", "-d", "0", "-o", str(tmp_path / "a.mp4")),
                   "nobody", "no character of that name")
    one_line_error(puppet("render", "-c", str(tmp_path / "gone.puppet"), "-d", "0", "-o", str(tmp_path / "a.mp4")),
                   "gone.puppet", "no such character file")
    one_line_error(puppet("render", "-c", good, "-d", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "a.mp4")),
                   "none.mp4", "no such video file")
    one_line_error(puppet("render", "-c", good, "-d", str(clip), "-o", str(tmp_path / "a.mp4")),
                   "clip.mp4", "not a video file")
    one_line_error(puppet("render", "-c", good, "-d", "97", "-o", str(tmp_path / "a.mp4")),
                   "camera 97", "cannot open")
    one_line_error(puppet("render", "-c", good, "-d", str(clip), "-o", str(tmp_path / "no" / "a.mp4")),
                   "a.mp4", "does not exist")
    one_line_error(puppet("render", "-c", good, "-d", str(clip), "-o", str(tmp_path / "a.webm")),
                   "a.webm", "must end in .mp4 or .gif")
    one_line_error(puppet("render", "-c", good, "-d", str(clip), "-o", str(tmp_path / "a.mp4"),
                          "--background", "none"), "a.mp4", "no transparency")
    one_line_error(puppet("render", "-c", good, "-d", str(clip), "-o", str(tmp_path / "a.gif"),
                          "--background", "nocolour"), "nocolour", "not a colour")
    virtual = puppet("render", "-c", good, "-d", str(clip), "--virtual-camera")
    one_line_error(virtual, "virtual")
    assert "pyvirtualcam" in virtual.stderr or "no device" in virtual.stderr
    corrupt = tmp_path / "corrupt.puppet"
    corrupt.write_bytes(Path(tiny_face_bundle).read_bytes()[:5000])
    one_line_error(puppet("render", "-c", str(corrupt), "-d", "0", "-o", str(tmp_path / "a.mp4")),
                   "corrupt.puppet")


def clip_fps() -> float:
    with av.open(str(DEMO_CLIP)) as c:
        return float(c.streams.video[0].average_rate)


def test_render_demo_clip_to_mp4(tiny_bundle, tmp_path):
    out = tmp_path / "take.mp4"
    run = puppet("render", "-c", str(tiny_bundle), "-d", str(DEMO_CLIP), "-o", str(out), "--frames", "24")
    assert run.returncode == 0, run.stderr
    assert "24/24" in run.stderr  # the progress line reached the end
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        frames = sum(1 for _ in c.decode(s))
        duration = float(c.duration) / av.time_base
        side = read_bundle(tiny_bundle).manifest.output_resolution  # the side the character draws at
        assert (s.width, s.height) == (side, side) and s.codec_context.name == "h264"
    assert frames == 24
    assert duration == pytest.approx(24 / clip_fps(), abs=0.1)


def test_render_says_once_why_it_runs_on_the_cpu(tiny_bundle, tmp_path):
    """The engine says why it fell back; the command tells it: one line of its own, or with
    --verbose one log line."""
    hidden = {"CUDA_VISIBLE_DEVICES": ""}
    args = ("render", "-c", str(tiny_bundle), "-d", str(DEMO_CLIP), "-o", str(tmp_path / "a.mp4"),
            "--frames", "2", "--device", "cuda")
    plain, verbose = puppet(*args, env=hidden), puppet("-v", *args, env=hidden)
    assert plain.returncode == 0 and verbose.returncode == 0, plain.stderr + verbose.stderr
    told = [ln for ln in plain.stderr.splitlines() if "running on the CPU: " in ln]
    assert len(told) == 1 and told[0].startswith("puppet: running on the CPU: ") and "CUDA" in told[0]
    logged = [ln for ln in verbose.stderr.splitlines() if "running on the CPU: " in ln]
    assert logged == [f"puppet: WARNING: {tiny_bundle}: {told[0].removeprefix('puppet: ')}"]


def test_render_side_by_side_transparent_gif(tiny_bundle, tmp_path):
    out = tmp_path / "take.gif"
    run = puppet("render", "-c", str(tiny_bundle), "-d", str(DEMO_CLIP), "-o", str(out), "--frames", "20",
                 "--side-by-side", "--background", "none", "--size", "128")
    assert run.returncode == 0, run.stderr
    im = Image.open(out)
    fps = clip_fps()
    stride = max(1, -(-fps // 15))  # the GIF rate cap: every k-th frame
    assert im.size == (128 + round(640 * 128 / 360), 128)
    assert im.n_frames == -(-20 // stride)
    total_ms = 0
    for i in range(im.n_frames):
        im.seek(i)
        total_ms += im.info["duration"]
    assert total_ms == pytest.approx(1000 * im.n_frames * stride / fps, abs=20)
    rgba = np.asarray(im.convert("RGBA"))
    assert rgba[..., 3][:, 200:].min() == 255  # the camera panel is opaque
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == im.n_frames


def test_render_onto_a_full_disk_fails_cleanly_and_keeps_the_file(tiny_bundle, tmp_path):
    out = tmp_path / "full.mp4"
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000)); "
            "from puppet.cli import main; "
            f"sys.exit(main(['render', '-c', {str(tiny_bundle)!r}, '-d', {str(DEMO_CLIP)!r}, "
            f"'-o', {str(out)!r}, '--size', '384']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    one_line_error(run, "full.mp4", "File too large")
    with av.open(str(out)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames > 0 and f"keeps {frames} frames" in run.stderr


def test_bench_prints_one_json_object(tiny_bundle):
    run = puppet("bench", "--json", "--character", str(tiny_bundle), "--frames", "20")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    for key in ("e2e_fps_cpu", "latency_ms", "track_ms", "heads_128_per_s", "heads_256_per_s", "infer_ms_cpu"):
        assert report[key] > 0, key
    assert set(report["stage_ms"]) == {"capture", "track", "prepare", "infer", "compose"}
    assert report["frames"] == 20 and report["provider"] in ("CPU", "CUDA", "TensorRT")


def test_no_arguments_open_the_gui(monkeypatch):
    import types

    calls: list[list[str]] = []
    gui = types.ModuleType("puppet.gui")
    gui.run = lambda argv: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "puppet.gui", gui)
    assert main([]) == 0 and calls == [[]]


def test_library_names_resolve_to_user_characters_first(tiny_face_bundle, hermetic_library):
    from puppet.library import LibraryError, import_character, resolve_character

    entry = import_character(tiny_face_bundle)
    assert resolve_character(entry.name) == entry.path
    assert resolve_character(str(tiny_face_bundle)) == Path(tiny_face_bundle)
    with pytest.raises(LibraryError, match="known: .*" + entry.name):
        resolve_character("somebody-else")
