"""Peak-preserving (min/max) decimation, and a pyramid of it for long recordings.

An hour at 10 kHz is 36 million samples: too many to draw, and plain subsampling would
hide the very peaks a force trace is about. Each level of :class:`MinMaxPyramid` keeps,
for every bin of ``factor**k`` samples, the bin's minimum and maximum, so a view of any
span is drawn from at most a few thousand points and still shows every peak and trough.
The pyramid is built once, streaming through the data in chunks, so an h5py dataset is
never loaded whole.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


def minmax_bins(y: np.ndarray, bin_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of consecutive bins of ``bin_size`` samples (the last bin may be shorter).

    NaN samples (lost data) are ignored; a bin of only NaN gives NaN.
    """
    y = np.asarray(y, dtype=np.float32)
    n = y.shape[0]
    if bin_size <= 1 or n == 0:
        return y.copy(), y.copy()
    full = n // bin_size
    parts_min, parts_max = [], []
    with np.errstate(invalid="ignore"), _quiet_nan():
        if full:
            body = y[:full * bin_size].reshape(full, bin_size)
            if np.isnan(body).any():
                parts_min.append(np.nanmin(body, axis=1))
                parts_max.append(np.nanmax(body, axis=1))
            else:
                parts_min.append(body.min(axis=1))
                parts_max.append(body.max(axis=1))
        if n % bin_size:
            tail = y[full * bin_size:]
            parts_min.append(np.array([np.nanmin(tail)], dtype=np.float32))
            parts_max.append(np.array([np.nanmax(tail)], dtype=np.float32))
    return np.concatenate(parts_min), np.concatenate(parts_max)


class _quiet_nan:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def interleave(x_lo: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (min, max) per bin as one zig-zag line: x repeated twice, y = min, max, ..."""
    x = np.repeat(np.asarray(x_lo, dtype=np.float64), 2)
    y = np.empty(2 * len(lo), dtype=np.float32)
    y[0::2] = lo
    y[1::2] = hi
    return x, y


@dataclass
class Level:
    bin_size: int           # samples per bin
    lo: np.ndarray          # float32 min per bin
    hi: np.ndarray          # float32 max per bin


class MinMaxPyramid:
    """Min/max pyramid over a 1-D array-like (numpy array or h5py dataset).

    Level 0 is the raw data (read lazily from the source); level ``k >= 1`` has bins of
    ``base * factor**(k-1)`` samples. :meth:`query` picks the finest level that fits the
    requested number of points.
    """

    def __init__(self, data: Any, *, base: int = 16, factor: int = 8, min_bins: int = 1000,
                 chunk: int = 1 << 22, progress: Callable[[float], None] | None = None) -> None:
        if base < 2 or factor < 2:
            raise ValueError("base and factor must be at least 2")
        self.data = data
        self.n = int(data.shape[0])
        self.levels: list[Level] = []
        chunk = max(base, (chunk // base) * base)
        # level 1 from the raw data, chunk by chunk
        los, his = [], []
        for start in range(0, self.n, chunk):
            lo, hi = minmax_bins(np.asarray(data[start:min(self.n, start + chunk)]), base)
            los.append(lo)
            his.append(hi)
            if progress:
                progress(min(1.0, (start + chunk) / max(1, self.n)))
        if self.n > base:
            lo = np.concatenate(los) if los else np.zeros(0, np.float32)
            hi = np.concatenate(his) if his else np.zeros(0, np.float32)
            self.levels.append(Level(base, lo, hi))
            while len(lo) > min_bins:
                lo2, _ = minmax_bins(lo, factor)
                _, hi2 = minmax_bins(hi, factor)
                lo, hi = lo2, hi2
                self.levels.append(Level(self.levels[-1].bin_size * factor, lo, hi))

    @property
    def nbytes(self) -> int:
        return sum(lv.lo.nbytes + lv.hi.nbytes for lv in self.levels)

    def query(self, start: int, stop: int, max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
        """Points to draw samples ``[start, stop)`` with at most ~``max_points`` points.

        Returns ``(x, y)`` with ``x`` in sample indices (float64). When the span is short
        enough the raw samples come back; otherwise a min/max zig-zag from the finest level
        whose bins keep the point count within ``max_points``. Every extreme of the span is
        in the result (to the resolution of one bin at the edges).
        """
        start = max(0, int(start))
        stop = min(self.n, int(stop))
        if stop <= start:
            return np.zeros(0), np.zeros(0, np.float32)
        span = stop - start
        if span <= max_points or not self.levels:
            y = np.asarray(self.data[start:stop], dtype=np.float32)
            return np.arange(start, stop, dtype=np.float64), y
        for lv in self.levels:
            nbins = span / lv.bin_size
            if 2 * nbins <= max_points or lv is self.levels[-1]:
                b0 = start // lv.bin_size
                b1 = min(len(lv.lo), -(-stop // lv.bin_size))
                x = (np.arange(b0, b1, dtype=np.float64) + 0.5) * lv.bin_size
                return interleave(x, lv.lo[b0:b1], lv.hi[b0:b1])
        raise AssertionError("unreachable")  # pragma: no cover

    def level_for(self, start: int, stop: int, max_points: int = 4000) -> int:
        """Bin size :meth:`query` would use for this span (1 for raw samples)."""
        span = max(0, min(self.n, stop) - max(0, start))
        if span <= max_points:
            return 1
        for lv in self.levels:
            if 2 * span / lv.bin_size <= max_points:
                return lv.bin_size
        return self.levels[-1].bin_size if self.levels else 1
