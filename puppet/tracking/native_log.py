"""MediaPipe's native start-up lines, kept off the user's terminal.

When a mediapipe graph starts, first runs and first finds a face, its C++ side writes lines
straight to the process's stderr: TFLite's "Created TensorFlow Lite XNNPACK delegate", absl's
"All log messages before absl::InitializeLog()" and warnings about features this project does not
use. No environment variable or API of the mediapipe this project installs turns them off
(GLOG_minloglevel and TF_CPP_MIN_LOG_LEVEL do not), and to a user they read as faults. Some come
from the graph's own threads after the call that caused them has returned, so catching stderr
around each call is not enough (a line still got through now and then).

So while a graph warms up, file descriptor 2 is a pipe, and a thread passes on at once every
chunk written to it, less the known lines; a few seconds after the last graph event
(:func:`quiet_for`), stderr is the terminal again. Nothing else is dropped or held back.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import time

KNOWN_LINES = re.compile(
    rb"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:.]+ +\d+ (inference_feedback_manager|landmark_projection_calculator)\.cc:\d+\] [^\n]*")
# How long after a graph event the pipe stays: a graph's threads write within a second of it.
QUIET_S = 3.0


def without_known_lines(chunk: bytes) -> bytes:
    """``chunk`` less its whole lines that are mediapipe's known start-up lines."""
    return b"".join(line for line in chunk.splitlines(keepends=True)
                    if not KNOWN_LINES.fullmatch(line.rstrip(b"\r\n")))


class _Filter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._saved: int | None = None  # the real stderr while the pipe is in its place
        self._passing: threading.Thread | None = None

    def quiet_for(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)
            if self._saved is not None:
                return
            sys.stderr.flush()
            try:
                saved = os.dup(2)
            except OSError:  # no stderr at all (a windowed program): nothing to keep clean
                return
            read, write = os.pipe()
            os.dup2(write, 2)
            os.close(write)
            self._saved = saved
            self._passing = threading.Thread(target=self._pass_on, args=(read, saved), name="native-lines",
                                             daemon=True)
            self._passing.start()
        threading.Thread(target=self._restore_when_quiet, name="native-lines-end", daemon=True).start()

    def _pass_on(self, read: int, saved: int) -> None:
        # Ends when the pipe's last writer is gone: when stderr is restored, or when something
        # else put its own file in its place (a test runner's capture), which is then left there.
        while chunk := os.read(read, 65536):
            if kept := without_known_lines(chunk):
                os.write(saved, kept)
        with self._lock:
            if self._saved == saved:
                self._saved = None
        os.close(read)
        os.close(saved)

    def _restore_when_quiet(self) -> None:
        while True:
            with self._lock:
                left = self._until - time.monotonic()
                if left <= 0:
                    self._restore()
                    return
            time.sleep(left)

    def _restore(self) -> None:
        if self._saved is not None:
            sys.stderr.flush()
            os.dup2(self._saved, 2)
            self._saved = None

    def end(self) -> None:
        """Stderr restored and all that was written to the pipe passed on: at exit, what a
        program says last (an error, a traceback) must not die with the thread."""
        with self._lock:
            self._restore()
            passing, self._passing = self._passing, None
        if passing is not None:
            passing.join(timeout=5)


_filter = _Filter()
atexit.register(_filter.end)


def quiet_for(seconds: float = QUIET_S) -> None:
    """Keep mediapipe's known lines off stderr from now until ``seconds`` after the last call."""
    _filter.quiet_for(seconds)
