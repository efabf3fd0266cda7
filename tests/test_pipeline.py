"""The live path: hand-offs, compositing, capture, and whole pipeline runs over real video."""

from __future__ import annotations

import threading
import time

import av
import cv2
import numpy as np
import pytest
from conftest import ADVENTURER, DEMO_CLIP
from PIL import Image

from puppet import params
from puppet.capture import (
    CameraConfig,
    CameraSource,
    CaptureError,
    Frame,
    VideoFileSource,
)
from puppet.compose import (
    Background,
    BackgroundError,
    ComposeConfig,
    Compositor,
    parse_background,
)
from puppet.engine import Engine, EngineConfig
from puppet.pipeline import (
    FrameResult,
    Handoff,
    Mode,
    Pipeline,
    PipelineConfig,
    PipelineError,
    RunSummary,
)
from puppet.recording import RecordingConfig

DRAWING = ADVENTURER / "mina_0.png"


# ---- hand-offs ------------------------------------------------------------------------------

def test_live_handoff_keeps_only_the_newest():
    h: Handoff[int] = Handoff(drop_stale=True)
    for i in range(5):
        assert h.put(i)
    assert h.get() == 4 and h.dropped == 4
    h.put(5)
    h.close()
    assert h.get() == 5  # an item already handed over still arrives after close
    assert h.get() is None and not h.put(6)


def test_offline_handoff_delivers_everything_in_order():
    h: Handoff[int] = Handoff(drop_stale=False)
    got: list[int] = []

    def consume() -> None:
        while (item := h.get()) is not None:
            got.append(item)
            time.sleep(0.001)  # a slower consumer: the producer must wait, not drop

    t = threading.Thread(target=consume)
    t.start()
    for i in range(200):
        assert h.put(i)
    h.close()
    t.join(5)
    assert got == list(range(200)) and h.dropped == 0


def test_close_wakes_a_blocked_producer():
    h: Handoff[int] = Handoff(drop_stale=False)
    h.put(1)
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(h.put(2)))
    t.start()
    time.sleep(0.05)
    h.close()
    t.join(5)
    assert result == [False]


# ---- compositing ----------------------------------------------------------------------------

def character_output(side: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A graph-like output from a real drawing: rgb [3,R,R] (slightly out of range), mask [1,R,R]."""
    rgba = cv2.resize(np.asarray(Image.open(DRAWING).convert("RGBA")), (side, side), interpolation=cv2.INTER_AREA)
    rgb = rgba[..., :3].astype(np.float32).transpose(2, 0, 1) / 255 * 1.1 - 0.05  # [R,R,3] -> [3,R,R]
    mask = np.zeros((1, side, side), np.float32)
    mask[0, side // 4: 3 * side // 4, side // 4: 3 * side // 4] = 1.0
    return rgb, mask


def test_composite_over_colour_image_and_transparency():
    rgb, mask = character_output()
    camera = np.full((90, 160, 3), 7, np.uint8)
    green = Compositor(ComposeConfig(Background.of_color((0, 177, 64)), size=32)).compose(rgb, mask, camera)
    assert green.shape == (32, 32, 3) and green.dtype == np.uint8
    assert tuple(green[0, 0]) == (0, 177, 64)  # mask 0: background
    expected = np.round(np.clip(rgb[:, 10:20, 10:20], 0, 1) * 255).transpose(1, 2, 0)  # [3,h,w] -> [h,w,3]
    assert np.abs(green[10:20, 10:20].astype(float) - expected).max() <= 1  # mask 1: the character
    half = Compositor(ComposeConfig(Background.of_color((0, 177, 64)), size=32)).compose(rgb, mask * 0.5, None)
    mixed = 0.5 * np.clip(rgb[:, 10:20, 10:20], 0, 1).transpose(1, 2, 0) * 255 + 0.5 * np.array([0, 177, 64])
    assert np.abs(half[10:20, 10:20].astype(float) - mixed).max() <= 1  # half over the background
    big = Compositor(ComposeConfig(Background.of_color((0, 177, 64)), size=64)).compose(rgb, mask, camera)
    assert big.shape == (64, 64, 3) and tuple(big[0, 0]) == (0, 177, 64)
    picture = np.zeros((100, 200, 3), np.uint8)
    picture[:, :100] = (255, 0, 0)
    picture[:, 100:] = (0, 0, 255)
    over_image = Compositor(ComposeConfig(Background.of_image(picture), size=64)).compose(rgb, mask, None)
    assert tuple(over_image[0, 0]) == (255, 0, 0) and tuple(over_image[0, 63]) == (0, 0, 255)
    clear = Compositor(ComposeConfig(Background.transparent(), size=64)).compose(rgb, mask, camera)
    assert clear.shape == (64, 64, 4) and clear[0, 0, 3] == 0 and clear[32, 32, 3] == 255


def test_side_by_side_puts_the_camera_on_the_right():
    rgb, mask = character_output()
    camera = np.zeros((90, 160, 3), np.uint8)
    camera[..., 2] = 200
    out = Compositor(ComposeConfig(size=64, side_by_side=True)).compose(rgb, mask, camera)
    assert out.shape == (64, 64 + round(160 * 64 / 90), 3)
    assert tuple(out[10, 100]) == (0, 0, 200)
    clear = Compositor(ComposeConfig(Background.transparent(), size=64, side_by_side=True)).compose(rgb, mask, camera)
    assert clear.shape[2] == 4 and clear[10, 100, 3] == 255  # the camera panel is opaque


def test_parse_background():
    assert parse_background("none").has_alpha
    assert parse_background("#ff8000").color == (255, 128, 0)
    assert parse_background("10, 20, 30").color == (10, 20, 30)
    assert parse_background("white").color == (255, 255, 255)
    img = parse_background(str(DRAWING))
    assert img.kind == "image" and img.picture is not None and img.picture.shape[2] == 3
    with pytest.raises(BackgroundError, match="not a colour"):
        parse_background("#12")
    with pytest.raises(BackgroundError, match="not an image"):
        parse_background(__file__)


# ---- capture --------------------------------------------------------------------------------

class FlakyCapture:
    """Stands in for cv2.VideoCapture: delivers frames, fails for a while, maybe comes back."""

    opened: list[FlakyCapture] = []
    script: list[bool] = []  # per read across all opens: True delivers a frame

    def __init__(self, index: int):
        FlakyCapture.opened.append(self)

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        return True

    def get(self, prop: int) -> float:
        return 30.0

    def read(self):
        ok = FlakyCapture.script.pop(0) if FlakyCapture.script else False
        return ok, (np.full((48, 64, 3), (10, 20, 30), np.uint8) if ok else None)

    def release(self) -> None:
        pass


@pytest.fixture
def flaky_camera(monkeypatch):
    FlakyCapture.opened = []
    monkeypatch.setattr(cv2, "VideoCapture", FlakyCapture)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    return FlakyCapture


def test_camera_reopens_after_failed_reads_and_converts_to_rgb(flaky_camera):
    flaky_camera.script = [True] + [False] * 5 + [True]
    cam = CameraSource(CameraConfig(index=3, reopen_after=5, max_reopens=2))
    first = cam.read()
    assert first is not None and tuple(first.image[0, 0]) == (30, 20, 10)  # BGR in, RGB out
    second = cam.read()
    assert second is not None and second.index == 1
    assert len(flaky_camera.opened) == 2  # re-opened once


def test_camera_that_disappears_raises_a_clear_error(flaky_camera):
    flaky_camera.script = [True]
    cam = CameraSource(CameraConfig(index=3, reopen_after=3, max_reopens=2))
    assert cam.read() is not None
    with pytest.raises(CaptureError, match="camera 3: stopped delivering frames"):
        cam.read()
    assert len(flaky_camera.opened) == 3


def test_video_file_source_reads_every_frame_in_rgb(tmp_path):
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(12):
            img = np.zeros((48, 64, 3), np.uint8)
            img[..., 0] = 200  # red
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    src = VideoFileSource(path)
    frames: list[Frame] = []
    while (f := src.read()) is not None:
        frames.append(f)
    assert len(frames) == 12 and src.fps == 10
    assert [f.index for f in frames] == list(range(12))
    assert frames[5].pts_s == pytest.approx(0.5)
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image[20, 20, 0] > 150 > frames[0].image[20, 20, 2]
    looped = VideoFileSource(path, loop=True)
    pts = [looped.read().pts_s for _ in range(30)]
    assert all(b > a for a, b in zip(pts, pts[1:]))  # timestamps keep rising across the loop


# ---- whole pipeline over the demo clip, with the real tracker ---------------------------------


@pytest.fixture(scope="module")
def proxy_engine(tiny_bundle) -> Engine:
    return Engine.load(tiny_bundle, EngineConfig(device="cpu"))


@pytest.fixture(scope="module")
def face_engine(tiny_face_bundle) -> Engine:
    return Engine.load(tiny_face_bundle, EngineConfig(device="cpu"))


class Collect:
    """Callbacks that keep what the pipeline hands out."""

    def __init__(self, delay_s: float = 0.0):
        self.frames: list[FrameResult] = []
        self.errors: list[str] = []
        self.finished: list[RunSummary] = []
        self.delay_s = delay_s

    def on_frame(self, r: FrameResult) -> None:
        self.frames.append(r)
        if self.delay_s:
            time.sleep(self.delay_s)

    def kwargs(self) -> dict:
        return {"on_frame": self.on_frame, "on_error": self.errors.append, "on_finished": self.finished.append}


def test_offline_run_processes_every_frame_in_order(proxy_engine, tmp_path):
    got = Collect()
    pipe = Pipeline(proxy_engine, VideoFileSource(DEMO_CLIP), PipelineConfig(mode=Mode.OFFLINE, max_frames=30,
                    compose=ComposeConfig(size=64)), **got.kwargs())
    pipe.start_recording(tmp_path / "take.mp4")
    pipe.start()
    summary = pipe.wait(120)
    assert summary.error is None and summary.errors == {}
    assert summary.frames_in == summary.frames_out == 30
    assert [r.index for r in got.frames] == list(range(30))
    r = got.frames[-1]
    assert r.image.shape == (64, 64, 3) and r.camera.shape == (360, 640, 3)
    assert r.driver.shape == (32, 32, 3) and r.provider == "CPU" and r.character == proxy_engine.name
    assert sum(f.track.found for f in got.frames) >= 25  # the demo clip shows a face throughout
    assert all(f.times.infer > 0 and f.times.track > 0 and f.times.latency >= f.times.infer for f in got.frames)
    assert summary.recording is not None and summary.recording.frames == 30
    with av.open(str(tmp_path / "take.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30
    assert got.finished == [summary]


def test_live_run_drops_stale_frames_behind_a_slow_consumer(proxy_engine):
    got = Collect(delay_s=0.15)  # far slower than the clip's 24-30 frames/s
    pipe = Pipeline(proxy_engine, VideoFileSource(DEMO_CLIP, realtime=True),
                    PipelineConfig(mode=Mode.LIVE, max_frames=45, compose=ComposeConfig(size=64)), **got.kwargs())
    pipe.start()
    summary = pipe.wait(60)
    assert summary.frames_in == 45
    assert summary.frames_out < 25 and sum(summary.dropped.values()) > 0
    indices = [r.index for r in got.frames]
    assert indices == sorted(set(indices))  # never an old frame after a newer one
    assert max(b - a for a, b in zip(indices, indices[1:])) > 1  # stale frames were skipped
    # No backlog: the last frame out is one of the last captured (at most one per hand-off and
    # stage in flight), although the consumer took 0.15 s for each of ~20 frames.
    assert indices[-1] >= summary.frames_in - 4


class VanishingCamera:
    """Real frames from the demo clip, then the device fails like an unplugged webcam."""

    live = True
    name = "camera 0"

    def __init__(self, frames: int):
        self._video = VideoFileSource(DEMO_CLIP)
        self.fps = self._video.fps
        self._left = frames

    def read(self) -> Frame | None:
        if self._left == 0:
            raise CaptureError("camera 0: stopped delivering frames (unplugged or taken by another program)")
        self._left -= 1
        return self._video.read()

    def close(self) -> None:
        self._video.close()


def test_camera_vanishing_mid_run_ends_cleanly_with_a_playable_recording(proxy_engine, tmp_path):
    got = Collect()
    pipe = Pipeline(proxy_engine, VanishingCamera(20),
                    PipelineConfig(mode=Mode.OFFLINE, compose=ComposeConfig(size=64)), **got.kwargs())
    pipe.start_recording(tmp_path / "take.gif", RecordingConfig(fps=10))  # 10/s: no GIF rate cap
    pipe.start()
    summary = pipe.wait(60)
    assert summary.error is not None and summary.error.startswith("camera 0: stopped delivering")
    assert got.errors == [summary.error] and len(got.finished) == 1
    assert summary.frames_out == 20 and summary.recording is not None and summary.recording.error is None
    assert Image.open(tmp_path / "take.gif").n_frames == summary.recording.frames == 20
    assert not pipe.running


def test_per_frame_exceptions_are_counted_not_fatal(proxy_engine):
    from puppet.tracking import FaceTracker, TrackerConfig

    class Hiccups:
        def __init__(self):
            self.inner, self.n = FaceTracker(TrackerConfig()), 0

        def process(self, frame, t):
            self.n += 1
            if self.n % 4 == 0:
                raise RuntimeError("tracker hiccup")
            return self.inner.process(frame, t)

        def calibrate(self):
            self.inner.calibrate()

        def close(self):
            self.inner.close()

    got = Collect()
    pipe = Pipeline(proxy_engine, VideoFileSource(DEMO_CLIP), PipelineConfig(mode=Mode.OFFLINE, max_frames=20,
                    compose=ComposeConfig(size=64)), tracker_factory=Hiccups, **got.kwargs())
    pipe.start()
    summary = pipe.wait(60)
    assert summary.errors == {"track": 5} and summary.frames_out == 15 and summary.error is None


def test_slider_driving_without_a_camera(proxy_engine, face_engine):
    from puppet.heads import Identity, render_head

    got = Collect()
    pipe = Pipeline(proxy_engine, None, PipelineConfig(compose=ComposeConfig(size=64)), **got.kwargs())
    wide = params.make(mouth_open=1.0, yaw=25.0)
    pipe.set_manual_params(wide)
    pipe.start()
    deadline = time.monotonic() + 30
    while len(got.frames) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    pipe.stop()
    assert len(got.frames) >= 5
    expected = render_head(Identity.from_seed(proxy_engine.manifest.proxy_seed), wide,
                           proxy_engine.driver_resolution).rgb
    np.testing.assert_array_equal(got.frames[-1].driver, expected)
    np.testing.assert_array_equal(got.frames[-1].track.params, wide)
    with pytest.raises(PipelineError, match="proxy-mode"):
        Pipeline(face_engine).set_manual_params(wide)
    with pytest.raises(PipelineError, match="values"):
        pipe.set_manual_params(np.zeros(3))


def test_swap_character_mirror_and_calibrate_while_running(proxy_engine, face_engine):
    got = Collect()
    pipe = Pipeline(proxy_engine, VideoFileSource(DEMO_CLIP), PipelineConfig(mode=Mode.OFFLINE, max_frames=40,
                    compose=ComposeConfig(size=64)), **got.kwargs())
    swapped = threading.Event()

    def on_frame(r: FrameResult) -> None:
        got.on_frame(r)
        if len(got.frames) == 10:
            pipe.set_character(face_engine)
            pipe.set_mirror(True)
            pipe.calibrate()
            swapped.set()

    pipe.on_frame = on_frame
    pipe.start()
    summary = pipe.wait(60)
    assert swapped.is_set() and summary.error is None and summary.errors == {}
    names = [r.character for r in got.frames]
    assert names[0] == proxy_engine.name and names[-1] == face_engine.name
    assert names.index(face_engine.name) >= 10 and names.count(face_engine.name) >= 25
    plain = VideoFileSource(DEMO_CLIP)
    frames = [plain.read().image for _ in range(40)]
    last = got.frames[-1]
    np.testing.assert_array_equal(last.camera, frames[last.index][:, ::-1])  # mirrored
    np.testing.assert_array_equal(got.frames[0].camera, frames[got.frames[0].index])


def test_resident_memory_does_not_grow_over_hundreds_of_frames(proxy_engine):
    from puppet.bench import soak

    report = soak(proxy_engine, DEMO_CLIP, frames=400, warmup=100)
    assert report["frames"] == 400 and report["error"] is None and report["errors"] == {}
    assert report["rss_growth_mb"] < 20, report


def test_tracker_settings_and_calibration_reach_the_tracker(proxy_engine):
    from puppet.tracking import FaceTracker

    class Recording(FaceTracker):
        made: list[Recording] = []

        def __init__(self):
            super().__init__()
            self.calibrations = 0
            Recording.made.append(self)

        def calibrate(self) -> None:
            self.calibrations += 1
            super().calibrate()

    got = Collect()
    pipe = Pipeline(proxy_engine, VideoFileSource(DEMO_CLIP), PipelineConfig(mode=Mode.OFFLINE, max_frames=12,
                    compose=ComposeConfig(size=64)), tracker_factory=Recording, **got.kwargs())
    pipe.set_tracker_options(smoothing=2.5)
    pipe.calibrate()
    pipe.start()
    summary = pipe.wait(60)
    (tracker,) = Recording.made
    assert tracker.config.smoothing == 2.5 and tracker.calibrations == 1
    assert summary.frames_out == 12 and got.errors == []
    bad = Pipeline(proxy_engine, VideoFileSource(DEMO_CLIP), PipelineConfig(mode=Mode.OFFLINE, max_frames=3,
                   compose=ComposeConfig(size=64)), tracker_factory=Recording, **got.kwargs())
    bad.set_tracker_options(sharpness=3)
    bad.start()
    assert bad.wait(60).frames_out == 3  # an unknown setting is reported, not fatal
    assert len(got.errors) == 1 and "sharpness" in got.errors[0]


def test_stop_from_inside_the_frame_callback(proxy_engine):
    got = Collect()
    pipe = Pipeline(proxy_engine, VideoFileSource(DEMO_CLIP, realtime=True),
                    PipelineConfig(compose=ComposeConfig(size=64)), **got.kwargs())
    pipe.on_frame = lambda r: (got.on_frame(r), len(got.frames) == 3 and pipe.stop())
    pipe.start()
    summary = pipe.wait(30)
    assert not pipe.running and summary.error is None
    assert 3 <= summary.frames_out <= 4 and len(got.finished) == 1


def test_recording_started_and_stopped_from_the_live_stream(proxy_engine, tmp_path):
    got = Collect()
    pipe = Pipeline(proxy_engine, VideoFileSource(DEMO_CLIP, realtime=True),
                    PipelineConfig(mode=Mode.LIVE, max_frames=60, compose=ComposeConfig(size=64)), **got.kwargs())
    pipe.start()
    while len(got.frames) < 10 and pipe.running:
        time.sleep(0.01)
    recorder = pipe.start_recording(tmp_path / "clip.mp4")
    while len(got.frames) < 40 and pipe.running:
        time.sleep(0.01)
    last = len(got.frames)
    result = pipe.stop_recording()
    summary = pipe.wait(30)
    assert result is not None and result.error is None and not pipe.recording
    assert summary.recording == result
    with av.open(str(result.path)) as c:
        stream = c.streams.video[0]
        frames = sum(1 for _ in c.decode(stream))
        assert float(stream.average_rate) == pytest.approx(VideoFileSource(DEMO_CLIP).fps, rel=0.01)
    # Constant rate at the clip's pace: about one file frame per source frame in the window,
    # repeats filling any frame the live path skipped.
    assert frames == result.frames == recorder.frames and 25 <= frames <= 40
    assert last >= 40
