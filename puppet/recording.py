"""Recording finished frames to MP4 (H.264) or GIF, finalised whatever way the run ends.

MP4: libx264 through PyAV, constant frame rate, yuv420p, even dimensions (an odd last row or
column is cropped). The file is written FRAGMENTED (``frag_keyframe+empty_moov+
default_base_moof``) with a keyframe every ``keyframe_interval_s``: each second is a
self-contained fragment on disk, so a process killed outright (SIGKILL, power loss) leaves a
file that plays up to its last complete fragment. ``tune=zerolatency`` keeps the encoder from
holding frames back, so that fragment is at most about a second old.

GIF: written INCREMENTALLY: the header and a global palette (adaptive, from the first frame,
255 colours; index 255 is transparent) go out first, then each frame as soon as it arrives,
flushed; memory stays constant whatever the length. Unchanged pixels are written as
transparent and each frame is cropped to the rectangle that changed (frame differencing), which
keeps a talking head small. Frames with an alpha channel (transparent background) are written
whole with "restore to background" disposal instead. The frame rate is capped at
``gif_max_fps`` (every k-th frame kept, delays adjusted) because GIF players round delays to
1/100 s and big GIFs at 30 frames/s gain nothing.

A failing write (a full disk, a vanished drive) stops the writer with :class:`RecordingError`
naming the file; what was written before stays playable.

Public API::

    RecordingConfig(fps=30.0, crf=20, preset="veryfast", keyframe_interval_s=1.0, gif_max_fps=15.0)
    open_writer(path, width, height, config) -> Mp4Writer | GifWriter  (by suffix)
    writer.write(image uint8 [H,W,3] RGB or [H,W,4] RGBA); writer.close()
    Recorder(path, config, live)              # a writer on its own thread, started lazily
    recorder.submit(image, t_capture) -> bool; recorder.stop() -> RecordingResult
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import queue
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Protocol

import av
import cv2
import numpy as np
from PIL import GifImagePlugin, Image

log = logging.getLogger(__name__)

SUFFIXES = (".mp4", ".gif")
GIF_TRANSPARENT = 255


class RecordingError(RuntimeError):
    """A recording that cannot be written or continued; the message names the file."""


@dataclass(frozen=True)
class RecordingConfig:
    fps: float = 30.0
    crf: int = 20
    preset: str = "veryfast"
    keyframe_interval_s: float = 1.0
    gif_max_fps: float = 15.0
    queue_frames: int = 8  # frames waiting for the encoder before LIVE mode drops
    max_gap_s: float = 2.0  # LIVE: longest stall filled with repeats of the last frame


@dataclass(frozen=True)
class RecordingResult:
    path: Path
    frames: int  # frames in the file (repeats that keep the rate constant included)
    duration_s: float
    dropped: int  # frames not recorded because the encoder was behind (LIVE mode only)
    error: str | None = None


class FrameWriter(Protocol):
    path: Path
    frames: int
    fps: float

    def write(self, image: np.ndarray) -> None: ...

    def close(self) -> None: ...


def _os_reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e)


class Mp4Writer:
    """Fragmented H.264 MP4 at a constant rate; each ``write`` is one frame period."""

    def __init__(self, path: Path, width: int, height: int, config: RecordingConfig):
        self.path = path
        self.fps = config.fps
        self.frames = 0
        self.width, self.height = width - width % 2, height - height % 2
        if self.width < 2 or self.height < 2:
            raise RecordingError(f"{path}: frame {width}x{height} is too small for video")
        rate = Fraction(config.fps).limit_denominator(1001)
        gop = max(1, round(config.fps * config.keyframe_interval_s))
        try:
            # flush_packets: without it the muxer's I/O buffer holds finished fragments back
            # from the disk, and a killed process leaves only the file header.
            self._container = av.open(str(path), "w", format="mp4", options={
                "movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"})
        except (av.FFmpegError, OSError) as e:
            raise RecordingError(f"{path}: cannot create ({_os_reason(e)})") from None
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = "yuv420p"
        stream.time_base = 1 / rate
        # A fixed GOP (no scene-cut keyframes) makes every fragment one keyframe interval long.
        stream.options = {"crf": str(config.crf), "preset": config.preset, "tune": "zerolatency",
                          "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        self._stream = stream
        self._closed = False
        self._failed = False

    def write(self, image: np.ndarray) -> None:
        rgb = np.ascontiguousarray(image[:self.height, :self.width, :3])  # drop alpha, odd edge
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as e:
            self._failed = True
            raise RecordingError(f"{self.path}: cannot write ({_os_reason(e)})") from None
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file. After a failed write the file is cut back to
        its last complete fragment (which also frees the space a full disk needs)."""
        if self._closed:
            return
        self._closed = True
        errors: list[BaseException] = []
        if not self._failed:
            try:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
            except (av.FFmpegError, OSError) as e:
                errors.append(e)
        try:
            self._container.close()
        except (av.FFmpegError, OSError) as e:
            errors.append(e)
        if self._failed or errors:
            self.frames = trim_fragmented_mp4(self.path)
        if errors:
            raise RecordingError(f"{self.path}: cannot finish the file ({_os_reason(errors[0])})")


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[int, int, bytes, int]]:
    """(offset, size, type, header size) of the ISO-BMFF boxes in [start, end) of a file,
    stopping at one whose header is cut off (a box may still end past ``end``)."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        size, kind = struct.unpack(">I4s", f.read(8))
        head = 8
        if size == 1:
            if pos + 16 > end:
                return
            size, head = struct.unpack(">Q", f.read(8))[0], 16
        elif size == 0:
            size = end - pos
        if size < head:
            return
        yield pos, size, kind, head
        pos += size


def _fragment_samples(f: BinaryIO, pos: int, size: int, head: int) -> int:
    """Samples listed in one moof box (the sum over its traf/trun boxes)."""
    count = 0
    for tpos, tsize, tkind, thead in _boxes(f, pos + head, pos + size):
        if tkind == b"traf":
            for rpos, _, rkind, rhead in _boxes(f, tpos + thead, tpos + tsize):
                if rkind == b"trun":
                    f.seek(rpos + rhead + 4)  # after version and flags
                    count += struct.unpack(">I", f.read(4))[0]
    return count


def trim_fragmented_mp4(path: Path) -> int:
    """Cut a fragmented MP4 right after its last complete moof+mdat pair; return the number of
    frames it keeps. A file killed mid-write plays without this; trimmed, it also decodes
    without a single error."""
    with open(path, "r+b") as f:
        end = f.seek(0, os.SEEK_END)
        good = samples = pending = 0
        for pos, size, kind, head in _boxes(f, 0, end):
            if pos + size > end:
                break
            if kind == b"moof":
                pending = _fragment_samples(f, pos, size, head)
                continue
            if kind == b"mdat":
                samples += pending
            pending = 0
            good = pos + size
        if good < end:
            f.truncate(good)
    return samples


class GifWriter:
    """Incremental GIF: global adaptive palette, frame differencing, flushed frame by frame."""

    def __init__(self, path: Path, width: int, height: int, config: RecordingConfig):
        self.path = path
        self.width, self.height = width, height
        self.stride = max(1, math.ceil(config.fps / config.gif_max_fps - 1e-6))
        self.fps = config.fps / self.stride
        self.frames = 0  # frames in the file
        self._offered = 0  # frames given to write(), before the rate cap
        self._palette: Image.Image | None = None
        self._colors = 0
        self._previous: np.ndarray | None = None  # palette indices of the last frame shown
        self._complete = 0  # bytes of whole blocks on disk: a failed write is cut back to here
        self._failed = False
        try:
            # Unbuffered: after a failed write no stale buffer is left to fail again on close.
            self._file: BinaryIO | None = open(path, "wb", buffering=0)
        except OSError as e:
            raise RecordingError(f"{path}: cannot create ({_os_reason(e)})") from None

    def _start(self, rgb: np.ndarray, opaque: np.ndarray | None) -> None:
        """Header and global palette, from the first frame's visible pixels."""
        sample = rgb
        if opaque is not None and opaque.any():
            sample = rgb[opaque][None]  # [H,W,3] -> [1,N,3]: hidden pixels waste no colours
        quantized = Image.fromarray(sample).quantize(colors=GIF_TRANSPARENT, method=Image.Quantize.MEDIANCUT)
        colors = np.asarray(quantized.getpalette()[: 3 * GIF_TRANSPARENT], np.uint8).reshape(-1, 3)  # [n*3] -> [n,3]
        self._colors = len(colors)
        table = np.zeros((256, 3), np.uint8)
        table[: self._colors] = colors
        # Unused entries repeat colour 0, so nearest-colour search never prefers them.
        table[self._colors:] = colors[0]
        self._palette = Image.new("P", (1, 1))
        self._palette.putpalette(table.reshape(-1).tolist())  # [256,3] -> [768]
        header = (b"GIF89a" + self.width.to_bytes(2, "little") + self.height.to_bytes(2, "little")
                  + bytes([0xF7, 0, 0]) + table.tobytes()
                  # NETSCAPE2.0 application extension: loop forever
                  + b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")
        self._emit(header)

    def _emit(self, data: bytes) -> None:
        assert self._file is not None
        view = memoryview(data)
        try:
            while view:
                view = view[self._file.write(view):]
        except OSError as e:
            self._failed = True
            raise RecordingError(f"{self.path}: cannot write ({_os_reason(e)})") from None
        self._complete += len(data)

    def _delay_ms(self) -> int:
        # Centisecond delays that add up to the true duration instead of drifting.
        cs = round((self.frames + 1) * 100 / self.fps) - round(self.frames * 100 / self.fps)
        return max(2, cs) * 10

    def write(self, image: np.ndarray) -> None:
        self._offered += 1
        if (self._offered - 1) % self.stride:
            return
        rgb = np.ascontiguousarray(image[:self.height, :self.width, :3])
        opaque = image[:self.height, :self.width, 3] >= 128 if image.shape[2] == 4 else None
        if self._palette is None:
            self._start(rgb, opaque)
        indices = np.asarray(Image.fromarray(rgb).quantize(palette=self._palette, dither=Image.Dither.NONE))
        indices = np.where(indices >= self._colors, 0, indices).astype(np.uint8)
        offset = (0, 0)
        params = {"duration": self._delay_ms(), "transparency": GIF_TRANSPARENT}
        if opaque is not None:
            indices[~opaque] = GIF_TRANSPARENT
            params["disposal"] = 2  # clear before the next frame: pixels may become transparent
            patch = indices
        elif self._previous is None:
            patch = indices
            params["disposal"] = 1
        else:
            changed = indices != self._previous
            params["disposal"] = 1  # leave in place: the next frame draws only what changed
            if changed.any():
                rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
                y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
                patch = np.where(changed[y0:y1, x0:x1], indices[y0:y1, x0:x1], GIF_TRANSPARENT).astype(np.uint8)
                offset = (int(x0), int(y0))
            else:
                patch = np.full((1, 1), GIF_TRANSPARENT, np.uint8)
        self._previous = indices
        im = Image.fromarray(patch, "P")
        self._emit(b"".join(GifImagePlugin.getdata(im, offset, **params)))
        self.frames += 1

    def close(self) -> None:
        """Write the trailer; after a failed write, first cut the partial frame off."""
        if self._file is None:
            return
        f, self._file = self._file, None
        try:
            if self._failed:
                f.truncate(self._complete)  # frees space on a full disk, so the trailer fits
                f.seek(self._complete)
            if self._complete:
                f.write(b";")  # trailer
            f.close()
        except OSError as e:
            raise RecordingError(f"{self.path}: cannot finish the file ({_os_reason(e)})") from None
        finally:
            if not f.closed:
                f.close()


def check_output_path(path: str | Path) -> Path:
    """Refuse an unknown suffix or a folder that is missing or read-only, before any work."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise RecordingError(f"{path}: output must end in {' or '.join(SUFFIXES)}")
    folder = path.parent
    if not folder.is_dir():
        raise RecordingError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise RecordingError(f"{path}: not writable")
    return path


def open_writer(path: str | Path, width: int, height: int, config: RecordingConfig) -> FrameWriter:
    path = check_output_path(path)
    if path.suffix.lower() == ".gif":
        return GifWriter(path, width, height, config)
    return Mp4Writer(path, width, height, config)


_STOP = object()


class Recorder:
    """A writer fed from another thread through a bounded queue.

    OFFLINE (``live=False``): every submitted frame is written once, in order; ``submit``
    blocks while the encoder is behind. LIVE: frames carry their capture time; the writer
    keeps a constant rate by repeating the last frame over gaps and skipping frames that fall
    in an already-written slot, and drops (counts) frames when its queue is full, so recording
    never slows the live view. The file is opened on the first frame (its size is known then).
    """

    def __init__(self, path: str | Path, config: RecordingConfig = RecordingConfig(), live: bool = False):
        self.path = check_output_path(path)
        self.config = config
        self.live = live
        self.dropped = 0
        self.error: RecordingError | None = None
        self._writer: FrameWriter | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=config.queue_frames)
        self._t0: float | None = None
        self._slot = -1  # LIVE: the last frame period written
        self._last: np.ndarray | None = None
        self._size = (0, 0)  # width, height of the file, fixed by its first frame
        self._result: RecordingResult | None = None
        self._stop_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"recorder {self.path.name}", daemon=True)
        self._thread.start()
        # An interpreter that exits with the recording still open (an uncaught exception in
        # the program's main thread) finalises the file on the way out.
        atexit.register(self.stop)

    @property
    def frames(self) -> int:
        return self._writer.frames if self._writer is not None else 0

    def submit(self, image: np.ndarray, t_capture: float | None = None) -> bool:
        """Queue one frame; False once the recorder has failed or stopped (see ``error``)."""
        if self.error is not None or self._result is not None:
            return False
        item = (image, time.perf_counter() if t_capture is None else t_capture)
        if self.live:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.dropped += 1
        else:
            while self.error is None:
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
        return self.error is None

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self.error is not None:
                continue  # drain whatever was queued before the failure
            image, t = item
            try:
                self._write(image, t)
            except RecordingError as e:
                self.error = e
                log.error("%s", e)
            except Exception as e:  # an encoder bug must not leave the file unfinalised
                self.error = RecordingError(f"{self.path}: recording failed ({e})")
                log.exception("%s: recording failed", self.path)

    def _write(self, image: np.ndarray, t: float) -> None:
        if self._writer is None:
            self._writer = open_writer(self.path, image.shape[1], image.shape[0], self.config)
            self._size = (image.shape[1], image.shape[0])
            self._t0 = t
        elif (image.shape[1], image.shape[0]) != self._size:
            # The picture changed size mid-recording (side by side switched): a file keeps one size.
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        if not self.live:
            self._writer.write(image)
            return
        assert self._t0 is not None
        slot = round((t - self._t0) * self.config.fps)
        if slot <= self._slot:
            return  # this frame period already has its frame
        repeats = min(slot - self._slot - 1, int(self.config.max_gap_s * self.config.fps))
        if self._last is not None:
            for _ in range(repeats):
                self._writer.write(self._last)
        self._writer.write(image)
        self._last = image
        self._slot = slot

    def stop(self) -> RecordingResult:
        """Write what is queued, finalise the file, and say what it holds. Idempotent."""
        with self._stop_lock:  # the GUI and the pipeline's end may both ask
            if self._result is not None:
                return self._result
            atexit.unregister(self.stop)
            self._queue.put(_STOP)
            self._thread.join()
            if self._writer is not None:
                try:
                    self._writer.close()
                except RecordingError as e:
                    self.error = self.error or e
            frames = self.frames
            fps = self._writer.fps if self._writer is not None else self.config.fps
            error = None
            if self.error is not None:
                error = f"{self.error}; the file keeps {frames} frames ({frames / fps:.1f} s)"
            self._result = RecordingResult(self.path, frames, frames / fps, self.dropped, error)
            return self._result
