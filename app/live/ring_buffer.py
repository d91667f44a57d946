"""A thread-safe, preallocated ring buffer of force samples and trigger flags.

The amplifier's reader thread (or the playback feeder) writes sample blocks; the GUI's
redraw timer reads the last few seconds. Samples keep their absolute stream index, so
stimulus markers, trial windows and the recorder all agree on where a sample is.

Nothing here allocates per write: force and flags live in two arrays sized once; a
write is one or two slice copies under a lock held for microseconds. Lost samples
(a gap in the stream) are stored as NaN, so a plot shows a break, never an invented
line. A stream that restarts at a lower index (the amplifier restarts at 0 on START)
starts a new *generation*: the buffer is cleared and readers can tell.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from drivers.capabilities import SampleBlock, samples_missing, trigger_edges


@dataclass(frozen=True)
class Marker:
    """A labelled point in the stream (a protocol step, a prompt, an abort)."""

    sample: int
    label: str
    kind: str = "note"


@dataclass(frozen=True)
class Snapshot:
    """A copy of a span of the buffer: ``force_mN[i]`` is stream sample ``first_sample + i``."""

    first_sample: int
    force_mN: np.ndarray                 # float32, NaN where samples were lost
    flags: np.ndarray                    # uint8 FLAG_* bits
    sample_rate_hz: float
    stim_samples: np.ndarray             # int64 absolute indices of trigger edges in the span
    markers: tuple[Marker, ...] = field(default=())
    generation: int = 0

    def __len__(self) -> int:
        return int(self.force_mN.shape[0])

    @property
    def end_sample(self) -> int:
        return self.first_sample + len(self)

    def times_s(self) -> np.ndarray:
        """Stream time of each sample, seconds since stream start (float64)."""
        return (np.arange(len(self), dtype=np.float64) + self.first_sample) / self.sample_rate_hz


class RingBuffer:
    """Last ``capacity`` samples of one stream, with absolute sample indices.

    Thread-safe for any number of writers and readers (writes are serialised).
    """

    def __init__(self, capacity: int, sample_rate_hz: float = 10_000.0,
                 max_markers: int = 10_000) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._cap = int(capacity)
        self._force = np.full(self._cap, np.nan, dtype=np.float32)
        self._flags = np.zeros(self._cap, dtype=np.uint8)
        self._lock = threading.Lock()
        self._rate = float(sample_rate_hz)
        self._end = 0            # absolute index one past the newest sample
        self._start = 0          # absolute index of the oldest sample held
        self._generation = 0
        self._lost = 0
        self._markers: deque[Marker] = deque(maxlen=max_markers)

    @classmethod
    def for_duration(cls, seconds: float, sample_rate_hz: float) -> "RingBuffer":
        return cls(max(1, int(np.ceil(seconds * sample_rate_hz))), sample_rate_hz)

    # --- properties (read without the lock: single int/float reads are atomic) ---
    @property
    def capacity(self) -> int:
        return self._cap

    @property
    def sample_rate_hz(self) -> float:
        return self._rate

    @property
    def end_sample(self) -> int:
        """Absolute index one past the newest sample written."""
        return self._end

    @property
    def start_sample(self) -> int:
        """Absolute index of the oldest sample still held."""
        return self._start

    @property
    def generation(self) -> int:
        """Incremented by every reset (new stream)."""
        return self._generation

    @property
    def lost_samples(self) -> int:
        """Samples reported missing by gaps in the written stream (stored as NaN)."""
        return self._lost

    # --- writing ---
    def reset(self, sample_rate_hz: float | None = None, first_sample: int = 0) -> None:
        """Forget everything: a new stream starts at ``first_sample``."""
        with self._lock:
            self._reset_locked(sample_rate_hz, first_sample)

    def _reset_locked(self, sample_rate_hz: float | None, first_sample: int) -> None:
        if sample_rate_hz is not None:
            self._rate = float(sample_rate_hz)
        self._force.fill(np.nan)
        self._flags.fill(0)
        self._end = self._start = int(first_sample)
        self._lost = 0
        self._markers.clear()
        self._generation += 1

    def write_block(self, block: SampleBlock) -> None:
        """A :data:`BlockSink`: append one amplifier block. Quick, never blocks for long."""
        if block.sample_rate_hz and block.sample_rate_hz != self._rate:
            with self._lock:
                self._reset_locked(block.sample_rate_hz, block.first_sample)
        self.write(block.first_sample, block.force_mN, block.flags)

    __call__ = write_block

    def write(self, first_sample: int, force_mN: np.ndarray, flags: np.ndarray | None = None) -> None:
        """Append samples starting at absolute index ``first_sample``.

        A ``first_sample`` beyond the end is a gap: the missing samples become NaN. One
        below the end means the stream restarted: the buffer resets first.
        """
        force = np.asarray(force_mN, dtype=np.float32).ravel()
        n = force.shape[0]
        if flags is None:
            fl = np.zeros(n, dtype=np.uint8)
        else:
            fl = np.asarray(flags, dtype=np.uint8).ravel()
            if fl.shape[0] != n:
                raise ValueError("force and flags differ in length")
        first = int(first_sample)
        with self._lock:
            if first < self._end:
                self._reset_locked(None, first)
            gap = samples_missing(self._end, first)
            if gap:
                self._lost += gap
                self._fill_locked(self._end, min(gap, self._cap), np.nan, 0, skip=gap)
            if n:
                if n > self._cap:              # only the newest samples fit
                    force, fl = force[-self._cap:], fl[-self._cap:]
                    first += n - self._cap
                    n = self._cap
                self._copy_locked(first, force, fl)
                self._end = first + n
                self._start = max(self._start, self._end - self._cap)
            else:
                self._end = max(self._end, first)
                self._start = max(self._start, self._end - self._cap)

    def _copy_locked(self, first: int, force: np.ndarray, fl: np.ndarray) -> None:
        n = force.shape[0]
        pos = first % self._cap
        k = min(n, self._cap - pos)
        self._force[pos:pos + k] = force[:k]
        self._flags[pos:pos + k] = fl[:k]
        if k < n:
            self._force[:n - k] = force[k:]
            self._flags[:n - k] = fl[k:]

    def _fill_locked(self, first: int, count: int, fvalue: float, flvalue: int, skip: int) -> None:
        # a gap of `skip` samples starting at `first`; only the last `count` (<= cap) matter
        start = first + skip - count
        pos = start % self._cap
        k = min(count, self._cap - pos)
        self._force[pos:pos + k] = fvalue
        self._flags[pos:pos + k] = flvalue
        if k < count:
            self._force[:count - k] = fvalue
            self._flags[:count - k] = flvalue
        self._end = first + skip
        self._start = max(self._start, self._end - self._cap)

    def add_marker(self, label: str, sample: int | None = None, kind: str = "note") -> Marker:
        """Label a point of the stream (default: the newest sample)."""
        with self._lock:
            m = Marker(self._end if sample is None else int(sample), str(label), kind)
            self._markers.append(m)
            return m

    # --- reading ---
    def read(self, start: int, stop: int) -> Snapshot:
        """Copy of absolute samples ``[start, stop)``, clipped to what the buffer holds."""
        with self._lock:
            start = max(int(start), self._start)
            stop = min(int(stop), self._end)
            n = max(0, stop - start)
            force = np.empty(n, dtype=np.float32)
            fl = np.empty(n, dtype=np.uint8)
            if n:
                pos = start % self._cap
                k = min(n, self._cap - pos)
                force[:k] = self._force[pos:pos + k]
                fl[:k] = self._flags[pos:pos + k]
                if k < n:
                    force[k:] = self._force[:n - k]
                    fl[k:] = self._flags[:n - k]
            stim = trigger_edges(fl, start)
            markers = tuple(m for m in self._markers if start <= m.sample <= start + n)
            return Snapshot(start, force, fl, self._rate, stim, markers, self._generation)

    def read_last(self, seconds: float) -> Snapshot:
        """The newest ``seconds`` of the stream (exactly ``round(seconds * rate)`` samples
        once that many have been written)."""
        n = int(round(float(seconds) * self._rate))
        with self._lock:
            end = self._end
        return self.read(end - n, end)

    def stim_samples(self, since: int = 0) -> np.ndarray:
        """Absolute indices of the trigger edges at or after ``since`` still held (read
        from the stored flags, like every snapshot's ``stim_samples``)."""
        return self.read(since, 2**62).stim_samples

    def markers(self, since: int = 0) -> list[Marker]:
        with self._lock:
            return [m for m in self._markers if m.sample >= since]
