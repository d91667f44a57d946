"""The runner's own view of the amplifier stream: the last few seconds of samples.

The runner finds each trial's pulses in the *samples* (trigger-edge flags, sample-exact)
and waits for a train to end by watching the stream's sample index advance, never by
host clocks. It needs the samples around the trial it is delivering, nothing older, so
this keeps a bounded window. ``put`` is the amplifier sink: it runs on the reader thread
and only appends under a lock.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from drivers.capabilities import SampleBlock, samples_missing


@runtime_checkable
class StreamView(Protocol):
    """What the trial helper may read of the stream (``StreamBuffer`` without ``put``)."""

    @property
    def end_sample(self) -> int: ...

    def oldest_sample(self) -> int: ...

    def trigger_edges(self, start: int, stop: int | None = None) -> np.ndarray: ...

    def window(self, start: int, stop: int) -> SampleBlock: ...


class StreamBuffer:
    """Recent sample blocks, indexed by stream sample number. Thread-safe."""

    def __init__(self, retain_s: float = 30.0) -> None:
        self._retain_s = float(retain_s)
        self._cond = threading.Condition()
        self._blocks: deque[SampleBlock] = deque()
        self._end = 0
        self._rate: float | None = None
        self._lost = 0
        self._blocks_seen = 0

    # --- the sink (reader thread) ------------------------------------------------------
    def put(self, block: SampleBlock) -> None:
        """Append a block; wakes waiters. Quick: never blocks on anything but the lock."""
        if len(block) == 0:
            return
        with self._cond:
            self._lost += samples_missing(self._end if self._blocks_seen else None,
                                          block.first_sample)
            self._blocks.append(block)
            self._blocks_seen += 1
            self._end = max(self._end, block.end_sample)
            self._rate = block.sample_rate_hz
            keep_from = self._end - int(self._retain_s * block.sample_rate_hz)
            while self._blocks and self._blocks[0].end_sample < keep_from:
                self._blocks.popleft()
            self._cond.notify_all()

    # --- readers (runner thread) -----------------------------------------------------------
    @property
    def end_sample(self) -> int:
        """One past the newest sample received (0 before the first block)."""
        with self._cond:
            return self._end

    @property
    def sample_rate_hz(self) -> float | None:
        with self._cond:
            return self._rate

    @property
    def lost_samples(self) -> int:
        """Samples missing between blocks since the start (gaps in the stream)."""
        with self._cond:
            return self._lost

    def wait_until(self, sample: int, *, timeout_s: float,
                   interrupted: Callable[[], bool] = lambda: False,
                   poll_s: float = 0.05) -> bool:
        """Block until the stream has reached ``sample`` (``end_sample >= sample``).

        Returns False on ``timeout_s`` of host time without getting there; returns early
        (True or False as it stands) as soon as ``interrupted()`` says so, checked every
        ``poll_s``, so abort is never stuck behind a silent stream."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._end < sample:
                if interrupted():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(poll_s, left))
            return True

    def window(self, start: int, stop: int) -> SampleBlock:
        """Stream indices ``[start, stop)`` as one block (force NaN and flags 0 where
        samples are missing); ``stop`` is clipped to what has arrived."""
        with self._cond:
            blocks = list(self._blocks)
            stop = min(stop, self._end)
            rate = self._rate or 0.0
        n = max(0, stop - start)
        force = np.full(n, np.nan, dtype=np.float32)
        flags = np.zeros(n, dtype=np.uint8)
        for b in blocks:
            a, e = max(start, b.first_sample), min(stop, b.end_sample)
            if a >= e:
                continue
            force[a - start:e - start] = b.force_mN[a - b.first_sample:e - b.first_sample]
            flags[a - start:e - start] = b.flags[a - b.first_sample:e - b.first_sample]
        return SampleBlock(start, force, flags, rate)

    def trigger_edges(self, start: int, stop: int | None = None) -> np.ndarray:
        """Stream indices (int64) of trigger-edge samples in ``[start, stop)``."""
        with self._cond:
            blocks = list(self._blocks)
        found = []
        for b in blocks:
            if b.end_sample <= start or (stop is not None and b.first_sample >= stop):
                continue
            found.append(b.trigger_samples())
        if not found:
            return np.zeros(0, dtype=np.int64)
        edges = np.concatenate(found)
        keep = edges >= start
        if stop is not None:
            keep &= edges < stop
        return np.unique(edges[keep])

    def oldest_sample(self) -> int:
        with self._cond:
            return self._blocks[0].first_sample if self._blocks else self._end
