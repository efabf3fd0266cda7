"""The ``puppet`` command: render to files that play, the character library, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest
from PIL import Image

from puppet.cli import main

REPO = Path(__file__).resolve().parent.parent
DEMO_CLIP = REPO / "assets" / "driver" / "demo.mp4"


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
    corrupt = tmp_path / "corrupt.puppet"
    corrupt.write_bytes(Path(tiny_face_bundle).read_bytes()[:5000])
    one_line_error(puppet("render", "-c", str(corrupt), "-d", "0", "-o", str(tmp_path / "a.mp4")),
                   "corrupt.puppet")
