"""A list of subscriber callbacks for a stream producer's own thread.

Copy-on-write: subscribing builds a new tuple under a lock, and the producer iterates
the tuple it finds without taking the lock (the reader thread never waits on a
subscriber arriving or leaving). A subscriber that raises is logged and counted, never
allowed to stop the stream.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class SinkList:
    """Subscribers of one kind (sample blocks, or notices) of one producer."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._lock = threading.Lock()
        self.items: tuple[Callable[[Any], None], ...] = ()
        #: calls that raised, over the producer's life
        self.errors = 0

    def add(self, sink: Callable[[Any], None]) -> Callable[[], None]:
        """Subscribe ``sink``; returns the function that unsubscribes it."""
        with self._lock:
            self.items = (*self.items, sink)

        def remove() -> None:
            with self._lock:
                self.items = tuple(s for s in self.items if s is not sink)
        return remove

    def emit(self, value: Any) -> None:
        """Call every subscriber with ``value`` on this thread."""
        for sink in self.items:
            try:
                sink(value)
            except Exception:
                self.errors += 1
                log.exception("%s subscriber failed", self._what)
