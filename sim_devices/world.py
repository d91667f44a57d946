"""The simulated rig's shared physical world: one clock, the pulse schedule, the muscle.

The stimulator server schedules pulses into the world; the amplifier device renders
the world's force and trigger input at its sample times. Both share the world clock,
so a pulse lands at the sample where it happened, exactly as on a real rig.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Protocol

import numpy as np

from drivers.capabilities import FLAG_TRIGGER_EDGE, FLAG_TRIGGER_LEVEL
from sim_devices.muscle import MuscleModel


class Muscle(Protocol):
    """A stateless muscle (test doubles): force at an array of times."""

    def force(self, t: np.ndarray, pulse_t: np.ndarray, pulse_current_mA: np.ndarray,
              pulse_width_ms: np.ndarray, length_mm: float) -> np.ndarray:
        """Force in mN at the (increasing, evenly spaced) times ``t``.

        Successive calls cover increasing times; ``pulse_*`` list every delivered pulse
        up to ``t[-1]`` that can still influence the force."""


class BlockMuscle(Protocol):
    """A muscle with state (:class:`sim_devices.muscle.MuscleModel`): rendered block by block.

    The world prefers ``force_block`` when a muscle has it."""

    def force_block(self, t0: float, n: int, rate_hz: float, pulse_t: np.ndarray,
                    pulse_current_mA: np.ndarray, pulse_width_ms: np.ndarray,
                    length_mm: float) -> np.ndarray:
        """Force in mN (float64) at the times ``t0 + k / rate_hz``, k = 0..n-1.

        The model keeps its own state between calls: successive calls cover increasing
        times (a later ``t0`` than the previous block's end is a gap to fast-forward).
        ``pulse_*`` list delivered pulses up to the last sample time, including ones the
        model has already seen (it ignores those)."""


class SimWorld:
    """Clock, pulse schedule and muscle of the simulated rig. Thread-safe."""

    #: pulses this much older than the rendered time are forgotten (the muscle model
    #: has taken them into its state by then)
    MEMORY_S = 5.0
    #: at most this many pulses are kept for a muscle that is never rendered
    MAX_STORED_PULSES = 200_000

    def __init__(self, muscle: Muscle | BlockMuscle | None = None, *, length_mm: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``muscle`` defaults to a rat EDL (:class:`sim_devices.muscle.MuscleModel`)."""
        self.muscle: Muscle | BlockMuscle = muscle if muscle is not None else MuscleModel("rat-edl")
        self.length_mm = float(length_mm)
        self._clock = clock
        self._t0 = clock()
        self._lock = threading.RLock()
        self._render_lock = threading.Lock()  # the muscle's state advances one block at a time
        self._rendered_until = 0.0  # pulses before this (minus MEMORY_S) are in the muscle's state
        # columns: time s, current mA, width ms, delivered (0/1: output on, reaches the nerve)
        self._pulses = np.zeros((0, 4))

    def now(self) -> float:
        """World time in seconds since the world was created."""
        return self._clock() - self._t0

    def set_length_mm(self, length_mm: float) -> None:
        """The technician (or a motor) sets the muscle length."""
        with self._lock:
            self.length_mm = float(length_mm)

    def schedule_burst(self, frequency_hz: float, pulses: int, current_mA: float,
                       width_ms: float, *, delivered: bool = True,
                       latency_s: float = 0.002) -> np.ndarray:
        """Schedule ``pulses`` pulses at ``frequency_hz`` starting ``latency_s`` from now.

        ``delivered`` is False when the main output is off: the Sync output still marks the
        pulses but the nerve gets nothing. Returns the pulse times."""
        with self._lock:
            start = self.now() + latency_s
            times = start + np.arange(int(pulses)) / float(frequency_hz)
            self.add_pulses(times, current_mA, width_ms, delivered=delivered)
            return times

    def add_pulses(self, times: np.ndarray, current_mA, width_ms, *,
                   delivered: bool = True) -> None:
        """Pulses at given world times (a DAQ board's analog output, on its sample clock);
        ``current_mA`` and ``width_ms`` are scalars or one value per pulse."""
        times = np.asarray(times, dtype=np.float64).ravel()
        rows = np.column_stack([times, np.broadcast_to(current_mA, times.shape),
                                np.broadcast_to(width_ms, times.shape),
                                np.full_like(times, 1.0 if delivered else 0.0)])
        with self._lock:
            self._pulses = np.vstack([self._pulses, rows])
            if self._pulses.shape[0] > self.MAX_STORED_PULSES:
                self._pulses = self._pulses[-self.MAX_STORED_PULSES:]

    def cancel_after(self, t: float | None = None) -> int:
        """Cancel every scheduled pulse after world time ``t`` (default now): ABOR / OUTP OFF."""
        with self._lock:
            t = self.now() if t is None else t
            keep = self._pulses[:, 0] <= t
            cancelled = int((~keep).sum())
            self._pulses = self._pulses[keep]
            return cancelled

    def pending_pulses(self) -> int:
        """Pulses scheduled but not yet happened."""
        with self._lock:
            return int((self._pulses[:, 0] > self.now()).sum())

    def render(self, t0: float, n: int, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
        """Force (mN, float64) and trigger flags (uint8) at times ``t0 + k / rate_hz``.

        A pulse sets the trigger-edge flag on the first sample at or after its start and
        the trigger-level flag on the samples taken while it is high."""
        t = t0 + np.arange(n) / rate_hz
        with self._lock:
            p = self._pulses
            # keep pulses the muscle has not rendered through yet, even across a long gap
            self._pulses = p[p[:, 0] > min(t0, self._rendered_until) - self.MEMORY_S]
            p = self._pulses
            length = self.length_mm
            if n:
                self._rendered_until = max(self._rendered_until, float(t[-1]))
        flags = np.zeros(n, dtype=np.uint8)
        if p.shape[0] and n:
            idx = np.ceil((p[:, 0] - t0) * rate_hz - 1e-9).astype(np.int64)
            inside = (idx >= 0) & (idx < n)
            flags[idx[inside]] |= FLAG_TRIGGER_EDGE
            for start, width_ms in p[inside | ((idx < 0) & (p[:, 0] + p[:, 2] / 1e3 > t0))][:, [0, 2]]:
                high = (t >= start) & (t < start + width_ms / 1e3)
                flags[high] |= FLAG_TRIGGER_LEVEL
        past = p[(p[:, 0] <= t[-1]) & (p[:, 3] > 0)] if n else p[:0]
        with self._render_lock:
            block = getattr(self.muscle, "force_block", None)
            if block is not None:
                force = block(t0, n, rate_hz, past[:, 0], past[:, 1], past[:, 2], length)
            else:
                force = self.muscle.force(t, past[:, 0], past[:, 1], past[:, 2], length)
        return np.asarray(force, dtype=np.float64), flags
