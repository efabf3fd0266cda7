"""Face tracking on the demo clip: blinks, speech, head turns and a still crop, plus bad input.

Frame numbers were picked by looking at the clip: blinks at 248, 288 and 388; eyes shut while she
cries (16-90) and open while she laughs (300-380); mouth closed while she cries (0-60), wide open
while she laughs (256-340); head turned to her left (screen right) at
228-244 and to her right at 156-176; tilted counter-clockwise at 400-420 and clockwise at
452-468; head still at 160-184.
"""

from __future__ import annotations

import subprocess
import sys

import av
import numpy as np
import pytest
from conftest import ADVENTURER, DEMO_CLIP

from puppet import params as P
from puppet.tracking import FaceTracker, crop_face, detect_face_box, estimate_params

FPS = 24000 / 1001


@pytest.fixture(scope="module")
def clip_frames():
    with av.open(str(DEMO_CLIP)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def series(clip_frames):
    """(params [F, NUM_PARAMS], boxes [F, 3], found [F]) over the whole clip."""
    params, boxes, found = [], [], []
    with FaceTracker() as tracker:
        for i, frame in enumerate(clip_frames):
            r = tracker.process(frame, i / FPS)
            params.append(r.params)
            boxes.append(r.box)
            found.append(r.found)
    return np.array(params), np.array(boxes), np.array(found)


def col(series, name):
    return series[0][:, P.INDEX[name]]


def test_face_found_throughout(series):
    assert series[2].mean() > 0.98


@pytest.mark.parametrize("frame", [248, 288, 388])
def test_blinks_dip_both_eyes(series, frame):
    for eye in ("eye_open_l", "eye_open_r"):
        values = col(series, eye)
        dip = values[frame - 2:frame + 3].min()
        around = np.median(np.concatenate([values[frame - 16:frame - 6], values[frame + 6:frame + 16]]))
        assert dip < 0.6 and dip < around - 0.25, f"{eye} at {frame}: {dip:.2f} vs {around:.2f}"


def test_eyes_shut_through_crying_read_shut_and_both_open_eyes_alike(series):
    """The clip opens on seconds of shut eyes, then two seconds of wide ones: neither is taken
    as her rest (TrackerConfig.rest_ear)."""
    left, right = col(series, "eye_open_l"), col(series, "eye_open_r")
    assert max(left[16:90].max(), right[16:90].max()) < 0.2
    laughing = np.median(left[300:380]), np.median(right[300:380])
    assert min(laughing) > 0.7 and abs(laughing[0] - laughing[1]) < 0.15, laughing


def test_a_start_mid_laugh_reads_the_laugh_as_an_open_mouth(clip_frames):
    """Begun at 13 s, the tracker's first seconds are all laughing: they are not its rest face."""
    with FaceTracker() as tracker:
        mouth = [tracker.process(frame, i / FPS).params[P.INDEX["mouth_open"]]
                 for i, frame in enumerate(clip_frames[312:392])]
    assert np.median(mouth[16:]) > 0.4


def test_mouth_follows_speech(series):
    mouth = col(series, "mouth_open")
    assert mouth[0:60].mean() < 0.1
    assert mouth[256:340].mean() > 0.5


def test_head_turns_have_the_right_signs(series):
    yaw, roll = col(series, "yaw"), col(series, "roll")
    assert yaw[228:244].mean() > 5 and yaw[156:176].mean() < -5
    assert roll[400:420].mean() < -15 and roll[452:468].mean() > 15


def test_still_head_gives_a_still_crop(series):
    boxes = series[1][160:185]
    centre_steps = np.abs(np.diff(boxes[:, :2], axis=0))
    assert centre_steps.max() < 1.0


def test_lost_face_eases_to_rest(clip_frames):
    black = np.zeros_like(clip_frames[0])
    with FaceTracker() as tracker:
        for i in range(250, 292):  # ends at a blink: far from rest
            tracker.process(clip_frames[i], i / FPS)
        t = 292 / FPS
        first = tracker.process(black, t)
        later = tracker.process(black, t + 0.5)
        gone = tracker.process(black, t + 1.2)
    assert not first.found and first.box is not None
    d = lambda r: np.abs(r.params - P.REST).sum()  # noqa: E731
    assert d(first) > d(later) > d(gone) and d(gone) < 1e-6


@pytest.mark.parametrize("kind", ["gray", "gray1", "rgba", "black", "tiny", "huge", "cut"])
def test_bad_frames_give_defined_results(clip_frames, kind):
    frame = clip_frames[240]
    frames = {
        "gray": frame.mean(axis=2).astype(np.uint8),
        "gray1": frame.mean(axis=2, keepdims=True).astype(np.uint8),
        "rgba": np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)]),
        "black": np.zeros((360, 640, 3), np.uint8),
        "tiny": frame[::40, ::40],
        "huge": np.repeat(np.repeat(frame, 4, 0), 4, 1),
        "cut": frame[:, 380:],  # the face's left half is outside the frame
    }
    with FaceTracker() as tracker:
        r = tracker.process(frames[kind], 0.0)
    assert r.params.shape == (P.NUM_PARAMS,) and np.isfinite(r.params).all()
    assert np.all(r.params >= P.LOW) and np.all(r.params <= P.HIGH)
    if kind in ("gray", "rgba", "huge"):
        assert r.found
    if kind in ("black", "tiny"):
        assert not r.found


def test_crop_pads_outside_the_frame(clip_frames):
    frame = clip_frames[240]
    crop = crop_face(frame, (10.0, 10.0, 200.0), 128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    assert crop[:20, :20].max() == 0 and crop[100:, 100:].mean() > 30
    centred = crop_face(frame, None, 64)
    assert centred.shape == (64, 64, 3)


def test_still_images(clip_frames):
    box = detect_face_box(clip_frames[240])
    assert box is not None and 400 < box[0] < 500 and 150 < box[1] < 230 and 200 < box[2] < 320
    assert detect_face_box(np.zeros((200, 200, 3), np.uint8)) is None
    open_eyes, closed_eyes = estimate_params(clip_frames[240]), estimate_params(clip_frames[464])
    i = P.INDEX["eye_open_l"]
    assert open_eyes[i] > closed_eyes[i] + 0.3
    from PIL import Image
    drawing = np.asarray(Image.open(ADVENTURER / "yuna_0.png").convert("RGB"))
    result = estimate_params(drawing)
    assert result is None or result.shape == (P.NUM_PARAMS,)


def test_tracking_keeps_mediapipe_start_up_lines_off_stderr(tmp_path):
    """A fresh process that tracks the demo clip (a blank frame first, so the graph's first run
    and its first face come apart) writes nothing to stderr but what Python itself says."""
    script = f"""
import sys, av, numpy as np
from puppet.tracking import FaceTracker
with av.open({str(DEMO_CLIP)!r}) as c:
    frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(4), c.decode(video=0))]
with FaceTracker() as tracker:
    found = [tracker.process(np.zeros_like(frames[0]), 0.0).found]
    found += [tracker.process(f, (i + 1) / 24).found for i, f in enumerate(frames)]
print("said meanwhile", file=sys.stderr)
assert found == [False, True, True, True, True], found
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "said meanwhile\n"


def test_while_quiet_only_the_known_native_lines_are_kept_off_stderr():
    """A process that writes to stderr while the filter is on, and exits at once: the known lines
    are gone, TFLite's too though written in pieces, and everything else arrives whole and in
    order (a progress bar's partial line, an error line of mediapipe's, what Python says last, a
    line never ended)."""
    script = """
import os, sys, time
from puppet.tracking.native_log import quiet_for
quiet_for()
for piece in (b"INFO: ", b"Created TensorFlow Lite XNNPACK delegate for CPU.", b"\\n"):  # as TFLite writes it
    os.write(2, piece)
    time.sleep(0.05)
os.write(2, b"render [#....] 1/30\\r")
os.write(2, b"W0000 00:00:1796186040.294260    4565 inference_feedback_manager.cc:114] "
            b"Feedback manager requires a model with a single signature inference.\\n"
            b"E0000 00:00:1796186040.294260    4565 face_landmarker.cc:10] a real failure\\n")
print("a last word", file=sys.stderr)
os.write(2, b"INFO: ")  # never ended: passed on at the end
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (b"render [#....] 1/30\r"
                           b"E0000 00:00:1796186040.294260    4565 face_landmarker.cc:10] a real failure\n"
                           b"a last word\n"
                           b"INFO: ")
