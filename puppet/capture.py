"""Frame sources: webcams (OpenCV), video files (PyAV) and an idle source for slider driving.

Every source hands out :class:`Frame` objects holding uint8 [H,W,3] **RGB** images (camera BGR
is converted here, at the boundary) with the time they were grabbed. ``read()`` returns None
when a stream ends normally and raises :class:`CaptureError` when a device fails for good.

Public API::

    CameraConfig(index=0, width=640, height=480, fps=30.0, reopen_after=5, max_reopens=3)
    CameraSource(config)                      # re-opens after `reopen_after` failed reads
    VideoFileSource(path, realtime=False, loop=False)
    IdleSource(fps=30.0, size=(480, 640))     # grey frames, for parameter (slider) driving
    open_source(spec: str | int, camera=CameraConfig(), realtime=False) -> FrameSource
    source.read() -> Frame | None;  source.close();  source.name, source.fps, source.live
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)


class CaptureError(RuntimeError):
    """A source that cannot be opened or that stopped for good; the message names it."""


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # uint8 [H,W,3] RGB
    index: int  # 0-based order in which the source delivered it
    t_capture: float  # time.perf_counter() when the frame was in hand
    pts_s: float  # the source's own timestamp in seconds (stream time, or since open)
    capture_ms: float  # time spent in read() for this frame (waiting for the device included)


class FrameSource(Protocol):
    name: str  # "camera 0", "clip.mp4": used in messages
    fps: float  # nominal frame rate
    live: bool  # True: frames come at the device's pace and stale ones may be dropped

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class CameraConfig:
    index: int = 0
    width: int = 640
    height: int = 480
    fps: float = 30.0
    reopen_after: int = 5  # consecutive failed reads before the device is re-opened
    max_reopens: int = 3  # consecutive re-opens without a frame before giving up


class CameraSource:
    """A webcam through cv2.VideoCapture, asked for the configured size and rate."""

    live = True

    def __init__(self, config: CameraConfig = CameraConfig()):
        self.config = config
        self.name = f"camera {config.index}"
        self.fps = config.fps
        self._cap: cv2.VideoCapture | None = None
        self._closed = False
        self._index = 0
        self._t0 = time.perf_counter()
        self._open()

    def _open(self) -> None:
        quiet = cv2.getLogLevel()
        cv2.setLogLevel(0)  # OpenCV logs its own lines for an absent device; CaptureError says it once
        try:
            cap = cv2.VideoCapture(self.config.index)
        finally:
            cv2.setLogLevel(quiet)
        if not cap.isOpened():
            cap.release()
            raise CaptureError(f"{self.name}: cannot open the device (absent, or in use by another program)")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
        cap.set(cv2.CAP_PROP_FPS, self.config.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a queued frame is a stale frame
        self.fps = cap.get(cv2.CAP_PROP_FPS) or self.config.fps
        # Devices pick the nearest mode they have; say what was granted.
        log.info("%s: %dx%d at %.0f frames/s", self.name, cap.get(cv2.CAP_PROP_FRAME_WIDTH),
                 cap.get(cv2.CAP_PROP_FRAME_HEIGHT), self.fps)
        self._cap = cap

    def read(self) -> Frame | None:
        start = time.perf_counter()
        failures = reopens = 0
        while True:
            if self._closed:
                raise CaptureError(f"{self.name}: read after close")
            ok, bgr = self._cap.read() if self._cap is not None else (False, None)
            if ok and bgr is not None:
                break
            failures += 1
            if self._cap is not None and failures < self.config.reopen_after:
                time.sleep(0.01)
                continue
            if reopens >= self.config.max_reopens:
                raise CaptureError(f"{self.name}: stopped delivering frames (unplugged or taken by "
                                   f"another program); {reopens} re-opens did not help")
            log.warning("%s: %d failed reads, re-opening", self.name, failures)
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            reopens += 1
            failures = 0
            time.sleep(0.2 * reopens)
            try:
                self._open()
            except CaptureError as e:
                log.warning("%s", e)
        now = time.perf_counter()
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self._index, now, now - self._t0,
                      (now - start) * 1000.0)
        self._index += 1
        return frame

    def close(self) -> None:
        self._closed = True
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoFileSource:
    """Decodes a video file with PyAV. ``realtime``: hand frames out at the clip's own pace
    (a stand-in for a camera); ``loop``: start over at the end (soak runs)."""

    def __init__(self, path: str | Path, realtime: bool = False, loop: bool = False):
        self.path = Path(path)
        self.name = self.path.name
        self.live = realtime
        self.loop = loop
        if not self.path.is_file():
            raise CaptureError(f"{self.path}: no such video file")
        try:
            self._container = av.open(str(self.path))
            stream = next(s for s in self._container.streams if s.type == "video")
        except StopIteration:
            raise CaptureError(f"{self.path}: has no video stream") from None
        except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
            raise CaptureError(f"{self.path}: not a video file PyAV can read ({e})") from None
        stream.thread_type = "SLICE"  # frame threading would add frames of latency
        self._stream = stream
        self.fps = float(stream.average_rate or stream.guessed_rate or 30)
        self.frame_count = int(stream.frames or 0)
        self._frames = self._decode()
        self._index = 0
        self._pass_offset = 0.0
        self._t0: float | None = None

    def _decode(self) -> Iterator:
        return self._container.decode(self._stream)

    def read(self) -> Frame | None:
        start = time.perf_counter()
        try:
            vf = next(self._frames, None)
            if vf is None and self.loop and self._index > 0:
                self._pass_offset = (self._index) / self.fps
                self._container.seek(0, stream=self._stream)
                self._frames = self._decode()
                vf = next(self._frames, None)
        except av.FFmpegError as e:
            raise CaptureError(f"{self.path}: decoding failed at frame {self._index} ({e})") from None
        if vf is None:
            return None
        image = vf.to_ndarray(format="rgb24")
        pts = self._pass_offset + (float(vf.time) if vf.time is not None else self._index / self.fps)
        decoded = time.perf_counter()
        if self.live:
            # Pacing is waiting, not work: capture_ms stays the decode time.
            if self._t0 is None:
                self._t0 = start - pts
            delay = self._t0 + pts - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        frame = Frame(image, self._index, time.perf_counter(), pts, (decoded - start) * 1000.0)
        self._index += 1
        return frame

    def close(self) -> None:
        self._container.close()


class IdleSource:
    """Plain grey frames at a steady rate: the clock for driving a character from parameters
    (sliders) when there is no camera."""

    live = True
    name = "no camera"

    def __init__(self, fps: float = 30.0, size: tuple[int, int] = (480, 640)):
        self.fps = fps
        self._image = np.full((*size, 3), 96, np.uint8)
        self._index = 0
        self._t0 = time.perf_counter()

    def read(self) -> Frame | None:
        start = time.perf_counter()
        due = self._t0 + self._index / self.fps
        if due > start:
            time.sleep(due - start)
        now = time.perf_counter()
        frame = Frame(self._image, self._index, now, now - self._t0, (now - start) * 1000.0)
        self._index += 1
        return frame

    def close(self) -> None:
        pass


def open_source(spec: str | int, camera: CameraConfig = CameraConfig(), realtime: bool = False,
                loop: bool = False) -> FrameSource:
    """A camera index ("0", 1) or a video file path."""
    if isinstance(spec, int) or str(spec).strip().isdigit():
        return CameraSource(replace(camera, index=int(spec)))
    return VideoFileSource(spec, realtime=realtime, loop=loop)
