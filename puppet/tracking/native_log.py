"""MediaPipe's native start-up lines, kept off the user's terminal.

The first time a mediapipe graph runs, and the first time it finds a face, its C++ side writes
lines straight to the process's stderr: TFLite's "Created TensorFlow Lite XNNPACK delegate",
absl's "All log messages before absl::InitializeLog()" and warnings about features this project
does not use. No environment variable or API of the mediapipe this project installs turns them
off (GLOG_minloglevel and TF_CPP_MIN_LOG_LEVEL do not), and to a user they read as faults.

So those moments run with file descriptor 2 pointed at a temporary file; afterwards every line
that is not one of the known ones is written to the real stderr. Nothing else is dropped: a
Python warning or a traceback another thread writes meanwhile arrives a frame late, not never.
A graph's thread can still write one of those lines just after a moment ends (seen about once in
twenty graphs that were made, run on a blank picture and closed in a tight loop; never in the
program's runs): that line passes.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

KNOWN_LINES = re.compile(
    r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+ +\d+ (inference_feedback_manager|landmark_projection_calculator)\.cc:\d+\] .*")

# dup2 acts on the whole process: two threads filtering at once would restore each other's fd.
_lock = threading.Lock()


@contextmanager
def native_lines_filtered() -> Iterator[None]:
    """Run the body with mediapipe's known native lines removed from stderr."""
    with _lock:
        sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all (a windowed program): nothing to keep clean
            yield
            return
        try:
            with tempfile.TemporaryFile() as caught:
                os.dup2(caught.fileno(), 2)
                try:
                    yield
                finally:
                    sys.stderr.flush()
                    os.dup2(saved, 2)
                    caught.seek(0)
                    kept = [line for line in caught.read().splitlines(keepends=True)
                            if not KNOWN_LINES.fullmatch(line.decode(errors="replace").rstrip("\r\n"))]
                    if kept:
                        os.write(2, b"".join(kept))
        finally:
            os.close(saved)
