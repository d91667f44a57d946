"""Auxiliary channels for display: the live ring and a recording's stored channels.

A DAQ rig records further analog inputs beside force (EMG, lever length, stimulus
current, ...). The GUI shows them under the force trace, switchable per channel. Two
Qt-free sources answer the same question, "channel values for stream samples
[start, stop)", as a (channels, n) float32 array with NaN where there is nothing:

* :class:`AuxRing`, a preallocated ring buffer the force source's blocks are written
  into (a ``BlockSink``, like :class:`~app.live.ring_buffer.RingBuffer`: one or two slice
  copies per block under a lock; a stream that restarts at a lower index clears it);
* :class:`RecordingAux`, a recording's ``/aux`` datasets sliced on demand (replay).
"""
from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np

from drivers.capabilities import SampleBlock, samples_missing


class AuxSource(Protocol):
    @property
    def channels(self) -> list[tuple[str, str]]:
        """(name, unit) of each channel, in row order."""

    def read(self, start: int, stop: int) -> np.ndarray:
        """float32 (channels, stop - start); NaN where a sample is not held."""


class AuxRing:
    """The newest ``seconds`` of a stream's auxiliary channels, by absolute sample index."""

    def __init__(self, seconds: float = 120.0) -> None:
        self._seconds = float(seconds)
        self._lock = threading.Lock()
        self._channels: list[tuple[str, str]] = []
        self._data = np.zeros((0, 1), dtype=np.float32)
        self._cap = 1
        self._end = 0
        self._start = 0

    @property
    def channels(self) -> list[tuple[str, str]]:
        return list(self._channels)

    def configure(self, channels: list[dict[str, Any]], sample_rate_hz: float) -> None:
        """Channels as the force source describes them (name, unit); clears the ring."""
        with self._lock:
            self._channels = [(str(c["name"]), str(c.get("unit", ""))) for c in channels]
            self._cap = max(1, int(np.ceil(self._seconds * float(sample_rate_hz))))
            self._data = np.full((len(self._channels), self._cap), np.nan, dtype=np.float32)
            self._end = self._start = 0

    def write_block(self, block: SampleBlock) -> None:
        """A ``BlockSink``: store the block's ``aux`` rows at their sample indices."""
        aux = block.aux
        k = len(self._channels)
        if aux is None or k == 0 or np.shape(aux) != (k, len(block)):
            return
        first, n = int(block.first_sample), len(block)
        with self._lock:
            if first < self._end:                 # the stream restarted
                self._data.fill(np.nan)
                self._end = self._start = first
            gap = samples_missing(self._end, first)
            if gap:                               # a gap: NaN over what it leaves behind
                self._put(self._end, np.full((k, min(gap, self._cap)), np.nan,
                                             dtype=np.float32), gap)
            if n > self._cap:
                aux, first, n = aux[:, -self._cap:], first + n - self._cap, self._cap
            self._put(first, aux, n)

    def _put(self, first: int, rows: np.ndarray, span: int) -> None:
        """Rows for the last ``rows.shape[1]`` samples of ``[first, first + span)``."""
        n = rows.shape[1]
        start = first + span - n
        pos = start % self._cap
        k = min(n, self._cap - pos)
        self._data[:, pos:pos + k] = rows[:, :k]
        if k < n:
            self._data[:, :n - k] = rows[:, k:]
        self._end = first + span
        self._start = max(self._start, self._end - self._cap)

    __call__ = write_block

    def read(self, start: int, stop: int) -> np.ndarray:
        k = len(self._channels)
        out = np.full((k, max(0, stop - start)), np.nan, dtype=np.float32)
        with self._lock:
            a, b = max(start, self._start), min(stop, self._end)
            if k and b > a:
                pos = a % self._cap
                m = b - a
                j = min(m, self._cap - pos)
                out[:, a - start:a - start + j] = self._data[:, pos:pos + j]
                if j < m:
                    out[:, a - start + j:b - start] = self._data[:, :m - j]
        return out


class RecordingAux:
    """A recording's auxiliary channels (``Recording.aux``), read slice by slice."""

    def __init__(self, recording: Any) -> None:
        self._aux = dict(getattr(recording, "aux", {}) or {})
        units = dict(getattr(recording, "aux_units", {}) or {})
        self._channels = [(name, units.get(name, "")) for name in self._aux]

    @property
    def channels(self) -> list[tuple[str, str]]:
        return list(self._channels)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples for drawing: a checked channel's damaged or unchecksummed samples come
        back as NaN (a gap), as the force does (:func:`app.recording.display_samples`)."""
        from app.recording import display_samples
        out = np.full((len(self._channels), max(0, stop - start)), np.nan, dtype=np.float32)
        for i, (name, _) in enumerate(self._channels):
            data = self._aux[name]
            a, b = max(0, start), min(stop, int(data.shape[0]))
            if b > a:
                out[i, a - start:b - start] = display_samples(data, a, b)
        return out
