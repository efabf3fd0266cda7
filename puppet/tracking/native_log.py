"""MediaPipe's native start-up lines, kept off the user's terminal.

When a mediapipe graph starts, first runs and first finds a face, its C++ side writes lines
straight to the process's stderr: TFLite's "Created TensorFlow Lite XNNPACK delegate", absl's
"All log messages before absl::InitializeLog()" and warnings about features this project does not
use. No environment variable or API of the mediapipe this project installs turns them off
(GLOG_minloglevel and TF_CPP_MIN_LOG_LEVEL do not), and to a user they read as faults. Some come
from the graph's own threads after the call that caused them has returned, so catching stderr
around each call is not enough (a line still got through now and then).

So while a graph warms up, file descriptor 2 is a pipe, and a thread passes on at once all that
is written to it, less the known lines (a line not yet ended that may become one waits for its
end); a few seconds after the last graph event (:func:`quiet_for`), stderr is the terminal again.
Nothing else is dropped.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import time

# TFLite writes its line in pieces (the severity, the message, the newline), absl its whole.
LITERAL_LINES = (b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
                 b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR")
ABSL_LINES = re.compile(
    rb"[IW]\d{4} [\d:.]+ +\d+ (inference_feedback_manager|landmark_projection_calculator)\.cc:\d+\] [^\n]*")
ABSL_START = re.compile(rb"[IW]\d{0,4}( [^\n]*)?")
# How long after a graph event the pipe stays: a graph's threads write within a second of it.
QUIET_S = 3.0


def _known(line: bytes) -> bool:
    line = line.rstrip(b"\r\n")
    return line in LITERAL_LINES or ABSL_LINES.fullmatch(line) is not None


def _may_become_known(partial: bytes) -> bool:
    """Whether a line not yet ended may be the start of a known one."""
    return any(line.startswith(partial) for line in LITERAL_LINES) or ABSL_START.fullmatch(partial) is not None


def without_known_lines(text: bytes) -> tuple[bytes, bytes]:
    """(``text`` less its whole lines that are mediapipe's known start-up lines, the unended
    line at its end that may become one: to be put before what comes next)."""
    lines = text.splitlines(keepends=True)
    held = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) and _may_become_known(lines[-1]) else b""
    return b"".join(line for line in lines if not _known(line)), held


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
        held = b""
        while chunk := os.read(read, 65536):
            kept, held = without_known_lines(held + chunk)
            if kept:
                os.write(saved, kept)
        if held:
            os.write(saved, held)
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
