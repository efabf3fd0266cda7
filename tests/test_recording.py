"""Recording: MP4 and GIF files that decode with the right frames, size and duration, also after
a failed write (a file-size limit stands in for a full disk) and after SIGKILL mid-recording."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from puppet.recording import (
    GifWriter,
    Mp4Writer,
    Recorder,
    RecordingConfig,
    RecordingError,
    check_output_path,
    open_writer,
)

REPO = Path(__file__).resolve().parent.parent
DRAWINGS = sorted((REPO / "assets" / "sources" / "adventurer").glob("mina_*.png"))


def drawn_frames(n: int, width: int = 96, height: int = 80) -> list[np.ndarray]:
    """A camera-like pan over the character drawings: real pictures with motion."""
    strip = np.concatenate([np.asarray(Image.open(p).convert("RGB").resize((160, 160))) for p in DRAWINGS[:4]],
                           axis=1)  # 4 x [160,160,3] -> [160,640,3]
    return [np.ascontiguousarray(strip[40:40 + height, 4 * i:4 * i + width]) for i in range(n)]


def decode(path: Path) -> tuple[list[np.ndarray], float, int, int]:
    """Frames (RGB), duration in seconds, width, height, decoded with PyAV."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
        duration = float(c.duration) / av.time_base if c.duration else 0.0
        return frames, duration, stream.width, stream.height


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / max(mse, 1e-9))


def test_mp4_constant_rate_even_size_and_faithful(tmp_path):
    frames = drawn_frames(25, width=97, height=81)  # odd: the writer must crop to even
    path = tmp_path / "take.mp4"
    w = open_writer(path, 97, 81, RecordingConfig(fps=10))
    assert isinstance(w, Mp4Writer)
    for f in frames:
        w.write(f)
    w.close()
    got, duration, width, height = decode(path)
    assert (width, height) == (96, 80)
    assert len(got) == 25
    assert duration == pytest.approx(2.5, abs=0.15)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
        assert s.average_rate == 10
        keyframes = [i for i, p in enumerate(c.demux(s)) if p.is_keyframe]
    assert keyframes == [0, 10, 20]  # one a second: each second is its own fragment
    assert min(psnr(a, b[:80, :96]) for a, b in zip(got, frames)) > 30


def test_gif_palette_differencing_and_timing(tmp_path):
    frames = drawn_frames(30)
    frames[10] = frames[9].copy()  # an unchanged frame must still take its time slot
    path = tmp_path / "take.gif"
    w = open_writer(path, 96, 80, RecordingConfig(fps=10))
    assert isinstance(w, GifWriter)
    for f in frames:
        w.write(f)
    w.close()
    im = Image.open(path)
    assert im.size == (96, 80) and im.n_frames == 30 and im.info.get("loop") == 0
    durations = []
    for i in range(im.n_frames):
        im.seek(i)
        durations.append(im.info["duration"])
        shown = np.asarray(im.convert("RGB"))
        assert psnr(shown, frames[i]) > 22, f"frame {i} differs from what was recorded"
    assert sum(durations) == pytest.approx(3000, abs=10)
    got, _, width, height = decode(path)
    assert len(got) == 30 and (width, height) == (96, 80)
    # Differencing pays: much smaller than the same frames written whole by Pillow.
    whole = tmp_path / "whole.gif"
    pil = [Image.fromarray(f).quantize(255) for f in frames]
    pil[0].save(whole, save_all=True, append_images=pil[1:], duration=100, optimize=False, disposal=1)
    assert path.stat().st_size < whole.stat().st_size


def test_gif_delays_keep_time_at_a_rate_of_no_whole_centiseconds(tmp_path):
    """120 frames at 29.97 frames/s (4.004 s), capped to every other frame: 60 frames of 6.67
    hundredths. Whole-hundredth delays alternate 7, 7, 6 so the file plays 4.0 s, not 3.6."""
    fps = 30000 / 1001
    rec = Recorder(tmp_path / "clip.gif", RecordingConfig(fps=fps, gif_max_fps=15), live=False)
    for f in drawn_frames(120):
        assert rec.submit(f)
    result = rec.stop()
    assert result.error is None and result.frames == 60
    im = Image.open(result.path)
    durations = []
    for i in range(im.n_frames):
        im.seek(i)
        durations.append(im.info["duration"])
    assert len(durations) == 60 and set(durations) == {60, 70}
    assert abs(sum(durations) - 120 / fps * 1000) <= 10


def test_gif_rate_cap_and_transparency(tmp_path):
    frames = [np.dstack([f, np.where(np.arange(96)[None, :] < 48 + i, 255, 0).astype(np.uint8)
                         .repeat(80, axis=0)]) for i, f in enumerate(drawn_frames(30))]  # RGBA
    path = tmp_path / "alpha.gif"
    w = open_writer(path, 96, 80, RecordingConfig(fps=30, gif_max_fps=15))
    for f in frames:
        w.write(f)
    w.close()
    im = Image.open(path)
    assert im.n_frames == 15  # every other frame at 30 -> 15 frames/s
    im.seek(14)
    alpha = np.asarray(im.convert("RGBA"))[..., 3]
    assert alpha[:, :70].min() == 255 and alpha[:, 80:].max() == 0  # frame 28: opaque up to x=76


def test_live_recorder_keeps_constant_rate_over_gaps(tmp_path):
    frames = drawn_frames(12)
    rec = Recorder(tmp_path / "live.mp4", RecordingConfig(fps=10, queue_frames=16), live=True)
    times = [0.0, 0.1, 0.2, 0.25, 0.3, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5]  # a 0.6 s stall
    for f, t in zip(frames, times):
        assert rec.submit(f, 100.0 + t)
    result = rec.stop()
    assert result.error is None
    got, duration, _, _ = decode(result.path)
    # Slots of 0.1 s: 0.25 s lands in slot 2, already taken (dropped); the stall after slot 3
    # is filled with repeats up to slot 8; then one frame per slot up to 15.
    assert len(got) == result.frames == 16
    assert duration == pytest.approx(1.6, abs=0.15)
    assert psnr(got[5], got[4]) > 40  # a repeat of the frame before the stall


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_full_disk_stops_with_clear_error_and_keeps_what_was_written(tmp_path, suffix):
    """A file-size limit makes writes fail like a full disk (EFBIG instead of ENOSPC)."""
    path = tmp_path / f"full{suffix}"
    code = textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {str(REPO / 'tests')!r})
        from test_recording import drawn_frames
        from puppet.recording import Recorder, RecordingConfig
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))
        rec = Recorder({str(path)!r}, RecordingConfig(fps=10))
        for f in drawn_frames(100) * 3:
            if not rec.submit(f):
                break
        r = rec.stop()
        print(r.frames)
        print(r.error)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    kept, error = run.stdout.strip().splitlines()
    assert str(path) in error and "File too large" in error and f"keeps {kept} frames" in error
    got, _, _, _ = decode(path)
    assert int(kept) > 5 and len(got) == int(kept)
    assert path.stat().st_size <= 60_000


def test_sigkill_during_mp4_recording_leaves_a_playable_file(tmp_path):
    path = tmp_path / "killed.mp4"
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO / 'tests')!r})
        from test_recording import drawn_frames
        from puppet.recording import Recorder, RecordingConfig
        rec = Recorder({str(path)!r}, RecordingConfig(fps=10, keyframe_interval_s=1.0))
        for f in drawn_frames(35):
            rec.submit(f)
        while rec.frames < 35:
            time.sleep(0.01)
        print("written", flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    decoded = 0
    with av.open(str(path)) as c:
        for packet in c.demux(video=0):
            decoded += len(packet.decode())
    # 35 frames at 10 frames/s, a fragment per second: the three complete ones survive.
    assert 30 <= decoded <= 35


def test_unwritable_outputs_are_refused_up_front(tmp_path):
    with pytest.raises(RecordingError, match="must end in"):
        check_output_path(tmp_path / "take.avi")
    with pytest.raises(RecordingError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "take.mp4")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not os.access(locked, os.W_OK):  # root may write anyway
        with pytest.raises(RecordingError, match="not writable"):
            check_output_path(locked / "take.gif")


def test_a_size_change_mid_recording_keeps_the_file_size(tmp_path):
    small, wide = drawn_frames(5, 64, 48), drawn_frames(5, 96, 48)
    rec = Recorder(tmp_path / "resized.mp4", RecordingConfig(fps=10))
    for f in small + wide:
        assert rec.submit(f)
    result = rec.stop()
    got, _, width, height = decode(result.path)
    assert (width, height) == (64, 48) and len(got) == 10 and result.error is None


def test_an_uncaught_exception_still_finalises_the_gif(tmp_path):
    path = tmp_path / "crash.gif"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / 'tests')!r})
        from test_recording import drawn_frames
        from puppet.recording import Recorder, RecordingConfig
        rec = Recorder({str(path)!r}, RecordingConfig(fps=10))
        for f in drawn_frames(12):
            rec.submit(f)
        raise RuntimeError("the program crashed")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "the program crashed" in run.stderr
    assert path.read_bytes().endswith(b";")  # the GIF trailer: the file was finished
    assert Image.open(path).n_frames == 12
