"""A one-slot hand-off between two pipeline threads.

LIVE (``drop_stale=True``): ``put`` replaces an item nobody has taken yet (counted in
``dropped``), so a slow consumer always gets the newest frame and latency never builds up.
OFFLINE: ``put`` waits until the slot is free, so every item arrives, in order.
``close`` ends the stream: the consumer still receives an item already in the slot, then None.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    def __init__(self, drop_stale: bool):
        self.drop_stale = drop_stale
        self.dropped = 0
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False

    def put(self, item: T) -> bool:
        """Hand an item over; False (item discarded) when the hand-off is closed."""
        with self._cond:
            if not self.drop_stale:
                while self._full and not self._closed:
                    self._cond.wait()
            if self._closed:
                return False
            if self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify_all()
            return True

    def get(self) -> T | None:
        """The next item (waits for it); None once the hand-off is closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._full or self._closed)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
