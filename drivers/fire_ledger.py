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

A caller that would rather wait than be refused (the protocol runner, before each fire)
asks :meth:`FireLedger.fire_delay`: how long until the same rules, with the same
tolerance, would admit a stimulus. It is found by asking those rule functions at later
moments, never by a formula of its own, so the answer cannot drift from the refusal.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

from drivers.capabilities import StimulusSpec
from drivers.errors import TimelineLimitError
from drivers.limits import LimitProblem, Scheduled, StimulusLimits

#: how much shorter than a rule a gap between fires may look on the host clock (s)
TOLERANCE_S = 0.05
#: :meth:`FireLedger.fire_delay` is exact to this much (s), never short of it
DELAY_RESOLUTION_S = 0.001


@dataclass(frozen=True)
class FireDelay:
    """How long until a fire would be admitted (``wait_s``: 0 now; ``math.inf`` when no
    wait helps, e.g. a stimulus the rate rule refuses on its own), and the rules that hold
    it longest: those still broken just before ``wait_s`` (empty when ``wait_s`` is 0).
    A fire held by the rest rule and, for longer, by the rate rule names the rate rule."""

    wait_s: float
    problems: tuple[LimitProblem, ...] = ()

    @property
    def rule(self) -> str | None:
        """The first rule holding the fire (``rest_s``, ``interval_s``, ``rate``,
        ``duty_cycle``), or None."""
        return self.problems[0].quantity if self.problems else None


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

    def fire_delay(self, spec: StimulusSpec) -> FireDelay:
        """How long from now until :meth:`admit` would take ``spec`` (nothing recorded).

        Every rule only ever relaxes as time passes (a rest grows, fires leave the rate
        window), so the earliest admissible moment is found by bisection over the rule
        functions themselves, to :data:`DELAY_RESOLUTION_S`, rounded up: waiting
        ``wait_s`` is always enough, as long as no other fire comes in between."""
        with self._lock:
            now = self.clock()
            held = self._problems(Scheduled(now, spec))
            if not held:
                return FireDelay(0.0)
            # by then every remembered fire has left the window and the pair rules
            horizon = (max(f.end_s for f in self._fires) - now if self._fires else 0.0) \
                + self.limits.rate_window_s + self.limits.min_rest_after_tetanus_s \
                + self.limits.min_pulse_interval_s + DELAY_RESOLUTION_S
            never = self._problems(Scheduled(now + horizon, spec))
            if never:
                return FireDelay(math.inf, tuple(never))
            lo, hi = 0.0, horizon               # held at now + lo, admitted at now + hi
            while hi - lo > DELAY_RESOLUTION_S:
                mid = (lo + hi) / 2.0
                found = self._problems(Scheduled(now + mid, spec))
                if found:
                    lo, held = mid, found
                else:
                    hi = mid
            return FireDelay(hi, tuple(held))

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
