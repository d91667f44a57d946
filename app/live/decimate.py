"""Peak-preserving (min/max) decimation to pixel columns, and a pyramid of it for long
recordings.

An hour at 10 kHz is 36 million samples: too many to draw, and plain subsampling would
hide the very peaks a force trace is about. A trace is drawn truthfully when every pixel
column shows exactly the range of the samples that fall in it: :func:`column_envelope`
gives each column's minimum and maximum *in the order they occur* (so that the line
joining one column to the next runs between neighbouring values, as the raw trace
does: a rising edge is not drawn as a saw tooth), and :func:`envelope_line` turns that
into the points of one polyline. This is the M4 idea (Jugel et al., VLDB 2014) without
first/last points: min and max in time order per column.

:class:`MinMaxPyramid` keeps, for every bin of ``base * factor**k`` samples, the bin's
min, max and which came first, so any span is re-binned to exactly the requested
columns from the finest level whose bins fit in a column (never coarser than a column:
bins coarser than a pixel draw steps that are not in the data). The pyramid is built
once, streaming through the data in chunks, so an h5py dataset is never loaded whole.
The plot must not downsample these points again (see ``app.gui.style.envelope_curve``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


def column_edges(start: int, stop: int, columns: int) -> np.ndarray:
    """``columns + 1`` integer sample boundaries splitting ``[start, stop)`` as evenly as
    possible (every column holds at least one sample when ``columns <= stop - start``)."""
    columns = max(1, min(int(columns), stop - start))
    return np.round(np.linspace(start, stop, columns + 1)).astype(np.int64)


def reduce_envelope(lo: np.ndarray, hi: np.ndarray, lo_first: np.ndarray | None,
                    starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge runs of bins (or samples) beginning at ``starts`` into one bin each.

    ``lo``/``hi`` are per-bin minima and maxima and ``lo_first`` whether each bin's
    minimum came before its maximum (None for raw samples, where lo == hi). Returns the
    merged ``(lo, hi, lo_first)``. NaN (lost data) is ignored; an all-NaN run gives NaN.
    """
    n = lo.shape[0]
    idx = np.arange(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mlo = np.fmin.reduceat(lo, starts)
        mhi = np.fmax.reduceat(hi, starts)
        lengths = np.diff(np.append(starts, n))
        # where (which bin) each run's min and max are first found
        at_lo = np.minimum.reduceat(np.where(lo == np.repeat(mlo, lengths), idx, n), starts)
        at_hi = np.minimum.reduceat(np.where(hi == np.repeat(mhi, lengths), idx, n), starts)
    first = at_lo < at_hi
    if lo_first is not None:
        same = (at_lo == at_hi) & (at_lo < n)
        first[same] = lo_first[at_lo[same]]
    return mlo.astype(np.float32), mhi.astype(np.float32), first


def column_envelope(y: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column ``(lo, hi, lo_first)`` of raw samples ``y``; ``edges`` index into ``y``."""
    y = np.asarray(y, dtype=np.float32)
    return reduce_envelope(y, y, None, np.asarray(edges[:-1], dtype=np.int64))


def envelope_line(x: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  lo_first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One polyline through each column's extremes in time order: two points per column
    at ``x`` (the column centres), ``(lo, hi)`` or ``(hi, lo)``."""
    xs = np.repeat(np.asarray(x, dtype=np.float64), 2)
    y = np.empty(2 * len(lo), dtype=np.float32)
    y[0::2] = np.where(lo_first, lo, hi)
    y[1::2] = np.where(lo_first, hi, lo)
    return xs, y


def bins_envelope(y: np.ndarray, bin_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lo, hi, lo_first)`` of consecutive bins of ``bin_size`` samples (the last may be
    shorter): a reshape when the data are finite (the common, fast case)."""
    y = np.asarray(y, dtype=np.float32)
    n = y.shape[0]
    full = n // bin_size
    if full == 0 or not np.isfinite(y[:full * bin_size]).all():
        return column_envelope(y, np.append(np.arange(0, n, bin_size), n))
    body = y[:full * bin_size].reshape(full, bin_size)
    at_lo, at_hi = body.argmin(axis=1), body.argmax(axis=1)
    rows = np.arange(full)
    lo, hi, first = body[rows, at_lo], body[rows, at_hi], at_lo < at_hi
    if n > full * bin_size:
        t_lo, t_hi, t_first = column_envelope(y[full * bin_size:], np.array([0, n - full * bin_size]))
        lo, hi, first = np.append(lo, t_lo), np.append(hi, t_hi), np.append(first, t_first)
    return lo, hi, first


def column_bin_size(n: int, columns: int) -> int:
    """Samples per envelope bin for ``n`` samples in ``columns`` pixel columns: 1 (the raw
    samples) when there are no more than two per column, else ``ceil(n / columns)``."""
    if n <= 2 * max(1, columns):
        return 1
    return -(-int(n) // int(columns))


def decimate_to_columns(y: np.ndarray, columns: int, x0: float = 0.0,
                        dx: float = 1.0, bin_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Points that draw ``y`` (sampled at ``x0 + k*dx``) truthfully in about ``columns``
    pixel columns: the raw samples when they are no more than two per column, else the
    time-ordered min/max envelope of bins of ``ceil(n / columns)`` samples (never wider
    than a column). A scrolling view passes its own ``bin_size`` (1: raw samples) for a
    ``y`` that starts on a bin boundary, so the bins stay put as the window moves."""
    y = np.asarray(y, dtype=np.float32)
    n = y.shape[0]
    b = column_bin_size(n, columns) if bin_size is None else int(bin_size)
    if b <= 1:
        return x0 + np.arange(n, dtype=np.float64) * dx, y
    lo, hi, first = bins_envelope(y, b)
    first_sample = np.arange(len(lo)) * b
    last_sample = np.minimum(first_sample + b, n) - 1
    return envelope_line(x0 + (first_sample + last_sample) * 0.5 * dx, lo, hi, first)


def minmax_bins(y: np.ndarray, bin_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of consecutive bins of ``bin_size`` samples (the last bin may be shorter).

    NaN samples (lost data) are ignored; a bin of only NaN gives NaN.
    """
    y = np.asarray(y, dtype=np.float32)
    if bin_size <= 1 or y.shape[0] == 0:
        return y.copy(), y.copy()
    lo, hi, _ = bins_envelope(y, bin_size)
    return lo, hi


def interleave(x_lo: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (min, max) per bin as one zig-zag line: x repeated twice, y = min, max, ..."""
    return envelope_line(x_lo, lo, hi, np.ones(len(lo), dtype=bool))


@dataclass
class Level:
    bin_size: int           # samples per bin
    lo: np.ndarray          # float32 min per bin
    hi: np.ndarray          # float32 max per bin
    lo_first: np.ndarray    # bool: the bin's min came before its max


class MinMaxPyramid:
    """Min/max pyramid over a 1-D array-like (numpy array or h5py dataset).

    Level 0 is the raw data (read lazily from the source); level ``k >= 1`` has bins of
    ``base * factor**(k-1)`` samples. :meth:`query` re-bins a span to pixel columns.
    """

    def __init__(self, data: Any, *, base: int = 16, factor: int = 8, min_bins: int = 1000,
                 chunk: int = 1 << 22, progress: Callable[[float], None] | None = None) -> None:
        if base < 2 or factor < 2:
            raise ValueError("base and factor must be at least 2")
        self.data = data
        self.n = int(data.shape[0])
        self.levels: list[Level] = []
        chunk = max(base, (chunk // base) * base)
        if self.n <= base:
            return
        parts = []
        for start in range(0, self.n, chunk):        # level 1 from the raw data, chunk by chunk
            y = np.asarray(data[start:min(self.n, start + chunk)], dtype=np.float32)
            parts.append(bins_envelope(y, base))
            if progress:
                progress(min(1.0, (start + chunk) / max(1, self.n)))
        lv = Level(base, *(np.concatenate([p[i] for p in parts]) for i in range(3)))
        self.levels.append(lv)
        while len(lv.lo) > min_bins:
            starts = np.arange(0, len(lv.lo), factor)
            lv = Level(lv.bin_size * factor, *reduce_envelope(lv.lo, lv.hi, lv.lo_first, starts))
            self.levels.append(lv)

    @property
    def nbytes(self) -> int:
        return sum(lv.lo.nbytes + lv.hi.nbytes + lv.lo_first.nbytes for lv in self.levels)

    def level_for(self, start: int, stop: int, max_points: int = 4000) -> Level | None:
        """The level :meth:`query` re-bins from (None: the raw samples): the coarsest whose
        bins are at most a quarter of a column, so that snapping column edges to its bins
        moves them by at most an eighth of a pixel."""
        span = max(0, min(self.n, stop) - max(0, start))
        per_column = span / max(1, max_points // 2)
        fitting = [lv for lv in self.levels if lv.bin_size <= per_column / 4]
        return fitting[-1] if fitting else None

    def query(self, start: int, stop: int, max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
        """Points that draw samples ``[start, stop)`` in ``max_points // 2`` pixel columns.

        Returns ``(x, y)`` with ``x`` in sample indices (float64): the raw samples when
        there are at most ``max_points`` of them; otherwise two points per column, the
        column's min and max in time order (:func:`envelope_line`), each column exactly
        the envelope of the samples it covers.
        """
        start = max(0, int(start))
        stop = min(self.n, int(stop))
        if stop <= start:
            return np.zeros(0), np.zeros(0, np.float32)
        columns = max(1, max_points // 2)
        if stop - start <= max_points:
            y = np.asarray(self.data[start:stop], dtype=np.float32)
            return np.arange(start, stop, dtype=np.float64), y
        lv = self.level_for(start, stop, max_points)
        if lv is None:
            y = np.asarray(self.data[start:stop], dtype=np.float32)
            x, yy = decimate_to_columns(y, columns)
            return x + start, yy
        b = lv.bin_size
        b0, b1 = start // b, min(len(lv.lo), -(-stop // b))
        # column edges snapped to whole bins: every column is the exact envelope of its bins
        edges = np.unique(np.round(np.linspace(b0, b1, columns + 1)).astype(np.int64))
        lo, hi, first = reduce_envelope(lv.lo[b0:b1], lv.hi[b0:b1], lv.lo_first[b0:b1], edges[:-1] - b0)
        s0 = edges[:-1] * b
        s1 = np.minimum(edges[1:] * b, self.n)
        return envelope_line((s0 + s1 - 1) * 0.5, lo, hi, first)
