"""Loading characters off the interface thread: the newest request wins.

``Engine.load`` reads and validates a bundle, opens an onnxruntime session and warms it up: a
second or more, during which the window must keep painting. One worker thread takes requests
through a one-slot hand-off, so a request made while another is waiting replaces it, and a
result that a newer request has overtaken is dropped. Results reach the interface thread as
queued signals; ``busy`` tells whether a request is still unanswered, and ``pending`` what it
asked for.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from puppet.bundle import BundleError
from puppet.engine import Engine, EngineError
from puppet.pipeline import Handoff

log = logging.getLogger(__name__)


class EngineLoader(QObject):
    loaded = Signal(object, object)  # Engine, the request's tag (what it was asked for)
    failed = Signal(str, object)  # one line naming the file, the request's tag
    _answered = Signal(int, object, object, object)  # ticket, Engine or None, message, tag

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._requests: Handoff[tuple[int, Path, object]] = Handoff(drop_stale=True)
        self._ticket = 0  # the newest request's number (interface thread only)
        self._tag: object = None  # the newest request's tag
        self._delivered = 0  # the last request answered or cancelled
        self._answered.connect(self._deliver)  # queued: emitted on the worker thread
        self._thread = threading.Thread(target=self._work, name="puppet engine loader", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._ticket != self._delivered

    @property
    def pending(self) -> object:
        """The tag of the unanswered request, or None."""
        return self._tag if self.busy else None

    def request(self, path: Path, tag: object = None) -> None:
        """Load the bundle at ``path``; ``loaded`` or ``failed`` follows unless another request
        comes first."""
        self._ticket += 1
        self._tag = tag
        self._requests.put((self._ticket, Path(path), tag))

    def cancel(self) -> None:
        """Forget the unanswered request: nothing is delivered for it."""
        self._delivered = self._ticket

    def close(self) -> None:
        """No more loads and no more signals (a load under way finishes and is dropped)."""
        self.cancel()
        self._requests.close()

    def _work(self) -> None:
        while (request := self._requests.get()) is not None:
            ticket, path, tag = request
            engine, message = None, None
            try:
                engine = Engine.load(path)
            except (EngineError, BundleError, OSError) as e:
                message = str(e) if str(path) in str(e) else f"{path}: {e}"
            except Exception as e:  # a worker that dies would leave the window waiting for ever
                log.exception("%s: loading failed", path)
                message = f"{path}: cannot load ({e})"
            if self._requests.closed:
                return
            try:
                self._answered.emit(ticket, engine, message, tag)
            except RuntimeError:  # the window, and this object with it, is already gone
                return

    def _deliver(self, ticket: int, engine: Engine | None, message: str | None, tag: object) -> None:
        if ticket != self._ticket or self._delivered == ticket:
            return  # overtaken by a newer request, or cancelled
        self._delivered = ticket
        if engine is not None:
            self.loaded.emit(engine, tag)
        else:
            self.failed.emit(message, tag)
