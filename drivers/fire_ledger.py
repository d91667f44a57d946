"""The fire-time interlock: every stimulator remembers its recent fires and refuses one
that would break the rig's rules over time, whoever asks for it.

The protocol validator checks a protocol's whole timeline before a run, and the runner
keeps to it; a script calling a driver's ``fire()`` directly goes through neither. So
each stimulator driver (``drivers.stimulator.driver``, ``drivers.daq.stimulator``) asks
its :class:`FireLedger` before a byte or a sample of a stimulus goes out: the rest after
a train, the interval between single pulses, the mean pulse rate and the duty cycle over
``rate_window_s``, with the rig file's values and the same rule functions
(:meth:`drivers.limits.StimulusLimits.fire_problems`). A fire that would break one is
refused with :class:`~drivers.errors.TimelineLimitError`; nothing is sent, the output
stays off.

This is a host-side safety net, not the timing of the stimulus (the instrument or the
board times the pulses): fires are stamped with a monotonic host clock when they are
admitted, which can be a few milliseconds off the instrument's own start of the burst
(transport latency; the DAQ board starts a train at its next written sample). Hence a
small tolerance, :data:`TOLERANCE_S`, documented in docs/rig-file.md ("Fire-time
interlock"): a gap may look that much shorter than the rule before it is refused.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from drivers.capabilities import StimulusSpec
from drivers.errors import TimelineLimitError
from drivers.limits import LimitProblem, Scheduled, StimulusLimits

#: how much shorter than a rule a gap between fires may look on the host clock (s)
TOLERANCE_S = 0.05


class FireLedger:
    """Recent fires of one stimulator, on a monotonic clock (injectable for tests).

    Thread-safe: :meth:`admit` checks and records under one lock, so two threads cannot
    both be admitted into the same gap."""

    def __init__(self, limits: StimulusLimits, *, clock: Callable[[], float] = time.monotonic,
                 tolerance_s: float = TOLERANCE_S) -> None:
        if not (0.0 <= tolerance_s < 1.0):
            raise ValueError(f"the fire-time tolerance must be from 0 to 1 s, got {tolerance_s!r}")
        self.limits = limits
        self.clock = clock
        self.tolerance_s = float(tolerance_s)
        self._lock = threading.Lock()
        self._fires: list[Scheduled] = []

    @property
    def fires(self) -> tuple[Scheduled, ...]:
        """The fires remembered (those that can still matter), oldest first."""
        with self._lock:
            return tuple(self._fires)

    def problems(self, spec: StimulusSpec, at: float | None = None) -> list[LimitProblem]:
        """Every time rule firing ``spec`` now (or at ``at``) would break; records nothing."""
        with self._lock:
            return self._problems(Scheduled(self.clock() if at is None else at, spec))

    def admit(self, spec: StimulusSpec) -> Scheduled:
        """Record a fire of ``spec`` now, or raise :class:`TimelineLimitError` naming the
        first rule it breaks (nothing recorded). Call before anything is sent."""
        with self._lock:
            fire = Scheduled(self.clock(), spec)
            found = self._problems(fire)
            if found:
                p = found[0]
                raise TimelineLimitError(p.quantity, p.value, p.limit,
                                         f"fire refused by the rig's timing limits: {p.message}")
            self._fires.append(fire)
            self._prune(fire.start_s)
            return fire

    def withdraw(self, fire: Scheduled) -> None:
        """Forget an admitted fire of which nothing reached the output (an abort before
        the trigger, a train the board never took)."""
        with self._lock:
            if fire in self._fires:
                self._fires.remove(fire)

    def _problems(self, fire: Scheduled) -> list[LimitProblem]:
        history = [f for f in self._fires if f.start_s <= fire.start_s]
        return self.limits.fire_problems(history, fire, tolerance_s=self.tolerance_s)

    def _prune(self, now: float) -> None:
        """Keep the fires still inside a rate window, and always the last one (its rest)."""
        keep_from = now - self.limits.rate_window_s
        last = self._fires[-1]
        self._fires = [f for f in self._fires if f.start_s > keep_from or f is last]
