"""The run's state machine, its thread-safe control calls and every wait of the worker.

States (:class:`~protocols.events.RunnerState`)::

    IDLE --start--> RUNNING --pause--> PAUSED --resume--> RUNNING
                    RUNNING --prompt--> WAITING_OPERATOR --answer--> RUNNING
    RUNNING/PAUSED/WAITING_OPERATOR --abort or failure--> ABORTING --> ABORTED | FAILED
    RUNNING --last step done--> COMPLETED

Control calls (``pause``, ``resume``, ``abort``, ``fail``) are safe from any thread.
``abort`` switches the stimulator off *from the calling thread, at once*; the worker
notices wherever it is waiting. Pause takes effect between trials and during rests.

Why a base class of :class:`~protocols.engine.runner.ProtocolRunner`: the state, the
stop and pause requests and the worker's waits (rests, pauses, prompts) share one lock
and one condition variable, and every wait must notice abort and pause the same way;
here that locking is in one reader's view, apart from what a run does (devices, steps,
events, the store: ``runner.py``), which reaches it only through the calls below.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from protocols.engine.prompts import PromptBook
from protocols.events import Event, RunnerState, StateChanged

S = RunnerState
_ALLOWED = {
    S.IDLE: {S.RUNNING, S.ABORTING},
    S.RUNNING: {S.PAUSED, S.WAITING_OPERATOR, S.ABORTING, S.COMPLETED},
    S.PAUSED: {S.RUNNING, S.ABORTING},
    S.WAITING_OPERATOR: {S.RUNNING, S.ABORTING},
    S.ABORTING: {S.ABORTED, S.FAILED},
    S.ABORTED: set(), S.COMPLETED: set(), S.FAILED: set(),
}


class RunControl:
    """State, stop and pause requests, and the interruptible waits, under one lock.

    The subclass provides what a stop or a wait leads to: :meth:`check` (raise when the
    run must stop, report what came in), :meth:`emit`, :meth:`audit`,
    :meth:`emergency_off` (output off, never raises) and :meth:`_finish`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._emit_lock = threading.RLock()   # keeps state changes and their events in order
        self._state = S.IDLE
        self._abort_reason: str | None = None
        self._failure: str | None = None
        self._pause_requested = False
        self._prompts = PromptBook(self._wake)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ provided by the run
    def check(self) -> None:  # pragma: no cover - the runner's
        raise NotImplementedError

    def emit(self, event: Event) -> None:  # pragma: no cover - the runner's
        raise NotImplementedError

    def audit(self, kind: str, message: str, **fields: Any) -> int | None:  # pragma: no cover
        raise NotImplementedError

    def emergency_off(self) -> None:  # pragma: no cover - the runner's
        raise NotImplementedError

    def _finish(self, status: str, message: str) -> None:  # pragma: no cover - the runner's
        raise NotImplementedError

    # ------------------------------------------------------------------ control (any thread)
    @property
    def state(self) -> RunnerState:
        with self._lock:
            return self._state

    def pause(self) -> None:
        """Pause before the next trial (or now, during a rest)."""
        with self._lock:
            if not self._state.terminal:
                self._pause_requested = True
                self._wake.notify_all()

    def resume(self) -> None:
        with self._lock:
            self._pause_requested = False
            self._wake.notify_all()

    def abort(self, reason: str = "aborted by the operator") -> None:
        """Stop now: the stimulator is switched off from this thread before returning."""
        with self._lock:
            first = self._abort_reason is None and self._failure is None and not self._state.terminal
            if first:
                self._abort_reason = reason
                self._wake.notify_all()
            started = self._thread is not None
        self.emergency_off()
        if first:
            self._transition(S.ABORTING, reason)
            if not started:
                self._finish("aborted", reason)

    def fail(self, message: str) -> None:
        """End the run as FAILED (device or recorder trouble reported by a callback).

        Safe from reader/writer threads: the stimulator is switched off on a helper thread
        so the caller never blocks on stimulator I/O."""
        with self._lock:
            if self._failure is not None or self._state.terminal:
                return
            self._failure = message
            self._wake.notify_all()
            started = self._thread is not None
        threading.Thread(target=self.emergency_off, name="stimulator-off", daemon=True).start()
        self._transition(S.ABORTING, message)
        if not started:
            self._finish("failed", message)

    def interrupted(self) -> bool:
        with self._lock:
            return self._abort_reason is not None or self._failure is not None

    # ------------------------------------------------------------------ waits (the worker)
    def checkpoint(self) -> None:
        """Between trials: stop if asked, wait here while paused."""
        self.check()
        with self._lock:
            paused = self._pause_requested
        if paused:
            self._pause_here()

    def sleep_until(self, deadline: float) -> None:
        """Rest until ``time.monotonic() >= deadline``, responsive to abort and pause."""
        while True:
            self.checkpoint()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with self._lock:
                if self._abort_reason is None and self._failure is None and not self._pause_requested:
                    self._wake.wait(min(left, 0.25))

    def _wait_for_answer(self, prompt_id: str) -> Any:
        """Wait until the prompt is answered; raise when the run must stop."""
        while True:
            with self._lock:
                answered, value = self._prompts.take(prompt_id)
                if answered:
                    return value
                if self._abort_reason is None and self._failure is None:
                    self._wake.wait(0.25)
            self.check()

    def _transition(self, new: RunnerState, reason: str = "") -> bool:
        with self._emit_lock:
            with self._lock:
                old = self._state
                if new == old or new not in _ALLOWED[old]:
                    return False
                self._state = new
            self.emit(StateChanged(old=old, new=new, reason=reason))
            return True

    def _pause_here(self) -> None:
        if not self._transition(S.PAUSED, "paused by the operator"):
            return
        self.audit("paused", "paused by the operator")
        while True:
            with self._lock:
                if not self._pause_requested or self._abort_reason or self._failure:
                    break
                self._wake.wait(0.25)
        self.check()
        self._transition(S.RUNNING, "resumed")
        self.audit("resumed", "resumed by the operator")
