"""One subscriber-list type for every producer in the core: stream blocks and notices
(amplifier, DAQ), runner and session events.

Copy-on-write: subscribing builds a new tuple under a lock, and ``emit`` iterates the
tuple it finds without taking the lock, so a producer's thread (a stream reader at
100 kHz, the runner) never waits on a subscriber arriving or leaving. A subscriber that
raises is counted and logged (or handed to ``on_error``), never allowed to stop the
producer. It lives in drivers/, the lowest layer, so protocols/ and app/ share it.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class Subscribers:
    """The callbacks subscribed to one kind of value (blocks, notices, events) of ``owner``.

    ``on_error(exc, value)``, if given, replaces the log line for a callback that raised
    (the amplifier turns it into a rate-limited stream notice).
    """

    def __init__(self, owner: str, *,
                 on_error: Callable[[Exception, Any], None] | None = None) -> None:
        self._owner = owner
        self._on_error = on_error
        self._lock = threading.Lock()
        self.items: tuple[Callable[[Any], None], ...] = ()
        #: calls that raised, over the producer's life
        self.errors = 0

    def add(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Subscribe ``callback``; returns the function that unsubscribes it."""
        with self._lock:
            self.items = (*self.items, callback)

        removed = False

        def remove() -> None:
            """Remove this subscription only, once (the same callback may be there twice)."""
            nonlocal removed
            with self._lock:
                if removed:
                    return
                removed = True
                items = list(self.items)
                for i, c in enumerate(items):
                    if c is callback:
                        del items[i]
                        break
                self.items = tuple(items)
        return remove

    def emit(self, value: Any) -> None:
        """Call every subscriber with ``value`` on this thread."""
        for callback in self.items:
            try:
                callback(value)
            except Exception as exc:
                self.errors += 1
                if self._on_error is not None:
                    self._on_error(exc, value)
                else:
                    log.exception("%s subscriber %r failed on %s", self._owner, callback,
                                  type(value).__name__)
