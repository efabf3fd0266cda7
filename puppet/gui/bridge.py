"""From the pipeline's threads to the interface thread: one signal, latest frame wins.

The pipeline calls ``on_frame`` on its output thread. The bridge keeps only the newest result in
a one-slot box and emits a queued signal only when the box was empty, so the interface thread
never queues a backlog of stale frames and never waits on inference.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal


class PipelineBridge(QObject):
    frame = Signal()  # a new FrameResult waits in take()
    error = Signal(str)
    finished = Signal(object)  # RunSummary

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._latest = None
        self._closed = False

    # Pipeline side (any thread).
    def on_frame(self, result) -> None:
        with self._lock:
            if self._closed:
                return
            empty = self._latest is None
            self._latest = result
        if empty:
            self.frame.emit()

    def on_error(self, message: str) -> None:
        if not self._closed:
            self.error.emit(message)

    def on_finished(self, summary) -> None:
        if not self._closed:
            self.finished.emit(summary)

    # Interface side.
    def take(self):
        with self._lock:
            result, self._latest = self._latest, None
            return result

    def close(self) -> None:
        """After this, nothing more is emitted (the window is going away)."""
        with self._lock:
            self._closed = True
            self._latest = None
