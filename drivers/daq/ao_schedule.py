"""The analog output stream: zeros, with stimulus trains placed at known samples.

The board's analog output runs continuously on the acquisition's sample clock and
start trigger, so output sample *k* is generated at the instant input sample *k* is
taken. The acquisition loop keeps the output written a little ahead of the input
(:meth:`AoSchedule.chunk`); a stimulus asked for by :meth:`AoSchedule.submit` is placed
at the next sample to be written, and from then on its pulses' sample indices are
facts, which is what makes the stimulus markers exact by construction.
"""
from __future__ import annotations

import threading
from collections import deque

import numpy as np

from drivers.daq.signals import PulseTrain


class AoSchedule:
    """Thread-safe: the stimulator submits and cancels, the acquisition loop writes."""

    def __init__(self, keep_pulses: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._written = 0                   # next output sample index to be written
        self._pending: deque[tuple[PulseTrain, threading.Event, list]] = deque()
        self._active: np.ndarray | None = None   # rest of the train being written
        self._active_from = 0
        self._last_nonzero = -1             # last output sample written that was not 0 V
        self._starts = np.zeros(0, dtype=np.int64)   # pulse start samples, ascending
        self._ends = np.zeros(0, dtype=np.int64)
        self._keep = keep_pulses

    def reset(self) -> None:
        """A new acquisition: sample indices restart at 0; nothing is scheduled."""
        with self._lock:
            self._written = 0
            self._drop_locked()
            self._last_nonzero = -1
            self._starts = self._starts[:0]
            self._ends = self._ends[:0]

    @property
    def written(self) -> int:
        with self._lock:
            return self._written

    def submit(self, train: PulseTrain) -> tuple[threading.Event, list]:
        """Queue a train; the event is set (and the list gets its first sample) once it has
        been placed into the output stream."""
        placed, where = threading.Event(), []
        with self._lock:
            self._pending.append((train, placed, where))
        return placed, where

    def cancel(self) -> None:
        """Drop pending and unwritten output (already written samples are the caller's
        business: see :meth:`live_after`). Pulses of a dropped train that were never
        written are forgotten: they are not stimuli and get no marker."""
        with self._lock:
            self._drop_locked()
            self._forget_from_locked(self._written)

    def truncate(self, generated: int) -> None:
        """The output was stopped after ``generated`` samples: nothing is written any
        more, and pulses starting at or after that sample never happened (no markers)."""
        with self._lock:
            self._drop_locked()
            self._forget_from_locked(generated)
            self._last_nonzero = min(self._last_nonzero, generated - 1)

    def _forget_from_locked(self, sample: int) -> None:
        keep = self._starts < sample
        self._starts, self._ends = self._starts[keep], np.minimum(self._ends[keep], sample)

    def busy(self) -> bool:
        """A train is queued or partly written."""
        with self._lock:
            return bool(self._pending) or self._active is not None

    def live_after(self, sample: int) -> bool:
        """Whether a non-zero output sample at or after ``sample`` has been written (it is
        in the board's buffer and will be generated unless the output is stopped)."""
        with self._lock:
            return self._last_nonzero >= sample

    def chunk(self, until: int) -> np.ndarray:
        """Output volts for samples ``[written, until)``; advances ``written``."""
        with self._lock:
            start = self._written
            n = max(0, until - start)
            out = np.zeros(n, dtype=np.float64)
            pos = 0
            while pos < n:
                if self._active is None:
                    if not self._pending:
                        break
                    self._place_locked(start + pos)
                take = min(n - pos, self._active.shape[0] - self._active_from)
                out[pos:pos + take] = self._active[self._active_from:self._active_from + take]
                self._active_from += take
                pos += take
                if self._active_from >= self._active.shape[0]:
                    self._active = None
            nz = np.flatnonzero(out)
            if nz.size:
                self._last_nonzero = start + int(nz[-1])
            self._written = start + n
            return out

    def _place_locked(self, at: int) -> None:
        train, placed, where = self._pending.popleft()
        self._active, self._active_from = train.volts, 0
        starts = at + train.pulse_offsets
        self._starts = np.concatenate([self._starts, starts])[-self._keep:]
        self._ends = np.concatenate([self._ends, starts + train.width_samples])[-self._keep:]
        where.append(int(at))
        placed.set()

    def _drop_locked(self) -> None:
        self._active = None
        while self._pending:
            _, placed, _ = self._pending.popleft()
            placed.set()       # wakes a waiting fire(), which finds nothing placed

    def pulses_in(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) sample indices of the pulses overlapping ``[start, stop)``."""
        with self._lock:
            starts, ends = self._starts, self._ends
        keep = (ends > start) & (starts < stop)
        return starts[keep], ends[keep]
