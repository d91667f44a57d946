"""Worker-thread events to the GUI thread: one queued Qt signal per event, never per sample."""
from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal


class EventBridge(QObject):
    """``post`` may be called from any thread; ``event`` is delivered on the GUI thread.

    Pass ``bridge.post`` as the subscriber callback of a protocol runner or session.
    """

    event = Signal(object)

    def post(self, ev: Any) -> None:
        self.event.emit(ev)

    __call__ = post


_pending: set = set()  # keeps each worker's QObject alive until its result is delivered


class _Done(QObject):
    result = Signal(object)
    error = Signal(object)


def run_in_thread(fn: Callable[[], Any], on_result: Callable[[Any], None] | None = None,
                  on_error: Callable[[BaseException], None] | None = None,
                  name: str = "myoforce-worker") -> threading.Thread:
    """Run ``fn`` on a daemon thread; its result or exception comes back on the GUI thread."""
    done = _Done()
    _pending.add(done)
    if on_result:
        done.result.connect(on_result)
    if on_error:
        done.error.connect(on_error)
    done.result.connect(lambda _v: _pending.discard(done))
    done.error.connect(lambda _e: _pending.discard(done))

    def work() -> None:
        try:
            value = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never lost
            done.error.emit(exc)
        else:
            done.result.emit(value)

    t = threading.Thread(target=work, name=name, daemon=True)
    t.start()
    return t
