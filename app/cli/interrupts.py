"""Ctrl-C and SIGTERM during a run: abort safely once, never interrupt the teardown.

The first SIGINT or SIGTERM raises :class:`KeyboardInterrupt` in the main thread, which
the run turns into a safe abort (stimulator output off, recording closed). Every later
signal (a second Ctrl-C within 150 ms, an impatient ``kill``) is only counted: the
teardown and the safety summary that follows it must always run to the end and be
printed, whatever arrives meanwhile. After :meth:`SafeInterrupts.shield` nothing raises.
"""
from __future__ import annotations

import signal
from types import FrameType
from typing import Any

_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class SafeInterrupts:
    """Context manager installing the handlers for SIGINT and SIGTERM; restores the
    previous ones on exit."""

    def __init__(self) -> None:
        self.count = 0              # signals received
        self.raised = False         # the first one was turned into KeyboardInterrupt
        self.signal_name = "Ctrl-C"
        self._shielded = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "SafeInterrupts":
        for signum in _NAMES:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def shield(self) -> None:
        """From now on signals are only counted (the teardown has begun)."""
        self._shielded = True

    @property
    def interrupted(self) -> bool:
        return self.raised

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            self.signal_name = _NAMES.get(signum, f"signal {signum}")
        if self.count == 1 and not self._shielded:
            self.raised = True
            raise KeyboardInterrupt
