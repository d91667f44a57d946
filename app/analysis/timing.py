"""Signal primitives for timing measurements: filters, derivatives, sub-sample crossings.

Everything here works on whole numpy arrays (no per-sample Python loops) and returns
*fractional* sample indices, so that timing is not quantised to the sample period:
threshold crossings are linearly interpolated between the two samples that straddle
the level, and a peak is located by fitting a parabola through the maximum sample and
its two neighbours.
"""
from __future__ import annotations

import numpy as np
from app.analysis.savgol import moving_average, savgol  # noqa: F401  (moving_average: one home for signal primitives)


def odd_window(duration_ms: float, fs: float) -> int:
    """Number of samples in ``duration_ms``, rounded to the nearest odd number (>= 1)."""
    n = int(round(duration_ms * fs / 1000.0))
    return max(1, n if n % 2 else n + 1)


def smooth(x: np.ndarray, fs: float, window_ms: float, polyorder: int = 2) -> np.ndarray:
    """Zero-phase Savitzky-Golay smoothing.

    A local polynomial fit keeps the height and timing of a peak (a moving average
    flattens it), and being symmetric it adds no delay. A window too short to hold
    more points than the polynomial has coefficients would be the identity, so the
    signal is then returned unchanged.
    """
    n = odd_window(window_ms, fs)
    if n <= polyorder + 1 or n > x.size:
        return np.array(x, dtype=np.float64, copy=True)
    return savgol(x, n, polyorder)


def derivative(x: np.ndarray, fs: float, window_ms: float, polyorder: int = 2) -> np.ndarray:
    """dx/dt in units of x per second, from the same Savitzky-Golay fit as :func:`smooth`.

    Differentiating the local polynomial rather than the samples keeps the noise
    amplification of a plain finite difference out of ±dF/dt.
    """
    n = odd_window(window_ms, fs)
    if n <= polyorder + 1 or n > x.size:
        return np.gradient(np.asarray(x, dtype=np.float64)) * fs
    return savgol(x, n, polyorder, deriv=1, fs=fs)


def blank(x: np.ndarray, starts: np.ndarray, n_blank: int | np.ndarray) -> np.ndarray:
    """Copy of ``x`` with ``n_blank`` samples from each start replaced by a straight line.

    The line joins the last sample before the blanked run and the first after it, so
    a stimulus artifact neither creates a false peak nor a jump in dF/dt.
    """
    out = np.array(x, dtype=np.float64, copy=True)
    mask = blank_mask(out.size, starts, n_blank)
    if not mask.any():
        return out
    keep = np.flatnonzero(~mask)
    if keep.size == 0:
        return out
    hole = np.flatnonzero(mask)
    out[hole] = np.interp(hole, keep, out[keep])
    return out


def blank_mask(n: int, starts: np.ndarray, n_blank: int | np.ndarray) -> np.ndarray:
    """True at the ``n_blank`` samples from each start (the samples :func:`blank`
    replaces); ``n_blank`` is one length or one per start."""
    mask = np.zeros(n, dtype=bool)
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.broadcast_to(np.asarray(n_blank, dtype=np.int64), starts.shape)
    if starts.size == 0 or lengths.max(initial=0) <= 0:
        return mask
    width = int(lengths.max())
    offs = np.arange(width)[None, :]
    idx = starts[:, None] + offs
    idx = idx[offs < lengths[:, None]]
    mask[idx[(idx >= 0) & (idx < n)]] = True
    return mask


def fill_nan_runs(x: np.ndarray, max_run: int) -> tuple[np.ndarray, int, int]:
    """Interpolate NaN runs up to ``max_run`` samples long.

    Returns (filled copy, number of NaN samples left, index of the first NaN left or -1).
    """
    out = np.array(x, dtype=np.float64, copy=True)
    bad = np.isnan(out)
    if not bad.any():
        return out, 0, -1
    if max_run > 0:
        good = np.flatnonzero(~bad)
        if good.size:
            _, lengths = runs(bad)
            run_len = np.zeros(out.size, dtype=np.int64)
            run_len[bad] = np.repeat(lengths, lengths)   # each NaN gets its run's length
            fill = np.flatnonzero(bad & (run_len <= max_run))
            out[fill] = np.interp(fill, good, out[good])
    left = np.isnan(out)
    return out, int(left.sum()), int(np.argmax(left)) if left.any() else -1


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in a boolean array."""
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    d = np.diff(m.astype(np.int8))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return starts, ends - starts


def parabolic_peak(y: np.ndarray, k: int) -> tuple[float, float]:
    """Sub-sample position and height of the maximum at sample ``k``.

    Fits a parabola through ``y[k-1], y[k], y[k+1]``; at either end of the array the
    sample itself is returned. Returns (fractional index, peak value).
    """
    if k <= 0 or k >= y.size - 1:
        return float(k), float(y[k])
    a, b, c = float(y[k - 1]), float(y[k]), float(y[k + 1])
    denom = a - 2.0 * b + c
    if denom >= 0:                      # flat or not a maximum: no refinement
        return float(k), b
    delta = 0.5 * (a - c) / denom
    delta = min(0.5, max(-0.5, delta))
    return k + delta, b - 0.25 * (a - c) * delta


def _interp_cross(y: np.ndarray, i0: int, level: float) -> float:
    """Fractional index where the line from y[i0] to y[i0+1] meets ``level``."""
    a, b = float(y[i0]), float(y[i0 + 1])
    if b == a:
        return float(i0)
    return i0 + (level - a) / (b - a)


def first_at_or_above(y: np.ndarray, level: float, start: int, stop: int) -> int:
    """First index in [start, stop) with y >= level, or -1."""
    start, stop = max(0, start), min(y.size, stop)
    if stop <= start:
        return -1
    hit = y[start:stop] >= level
    i = int(np.argmax(hit))
    return start + i if hit[i] else -1


def falling_crossing(y: np.ndarray, level: float, start: int, stop: int | None = None) -> float:
    """Fractional index of the first fall to ``level`` after ``start`` (NaN if none).

    Searches samples start+1 .. stop-1 for the first one at or below ``level`` and
    interpolates between it and the sample before.
    """
    stop = y.size if stop is None else min(stop, y.size)
    if start + 1 >= stop:
        return float("nan")
    below = y[start + 1:stop] <= level
    i = int(np.argmax(below))
    if not below[i]:
        return float("nan")
    j = start + 1 + i                   # first sample at or below level
    return _interp_cross(y, j - 1, level)


def rising_crossing_before(y: np.ndarray, level: float, start: int, stop: int) -> float:
    """Fractional index of the last rise through ``level`` before ``stop`` (NaN if none).

    Looks backwards from ``stop`` (a sample already at or above the level) for the last
    sample in [start, stop) below the level, and interpolates to the next one. Searching
    backwards from the contraction makes baseline-noise excursions before it harmless.
    """
    start = max(0, start)
    if stop <= start or stop > y.size:
        return float("nan")
    below = np.flatnonzero(y[start:stop] < level)
    if below.size == 0:
        return float("nan")
    j = start + int(below[-1])
    if j + 1 >= stop:                   # still below the level at ``stop``: no rise
        return float("nan")
    return _interp_cross(y, j, level)


def integrate(y: np.ndarray, fs: float, start: float, stop: float) -> float:
    """Trapezoidal integral of ``y`` (per second) between fractional indices."""
    if not (np.isfinite(start) and np.isfinite(stop)) or stop <= start:
        return float("nan")
    grid = np.arange(y.size, dtype=np.float64)
    i0, i1 = int(np.ceil(start)), int(np.floor(stop))
    xs = np.concatenate(([start], grid[i0:i1 + 1], [stop]))
    ys = np.interp(xs, grid, y)
    return float(np.trapezoid(ys, xs) / fs)


def polynomial_peak(x: np.ndarray, y: np.ndarray, k: int, level: float,
                    degree: int = 4, min_half_width: int = 3) -> tuple[float, float] | None:
    """Peak time and height from a least-squares polynomial through the top of a peak.

    ``k`` is the maximum of the smoothed signal ``y``; the fit uses the samples of ``x``
    (unsmoothed) in the contiguous run around ``k`` where ``y >= level`` (at least
    ``min_half_width`` samples each side). A flat peak is located by noise when only its
    highest sample (or three) is used; fitting all samples near the top averages the
    noise, and a quartic follows the asymmetric top of a twitch (fast rise, slower fall),
    which a parabola would shift towards the slower side. Returns None when the fitted
    polynomial has no maximum inside the window (the caller then falls back to
    :func:`parabolic_peak`).
    """
    n = y.size
    lo_part = np.flatnonzero(y[:k] < level)
    hi_part = np.flatnonzero(y[k + 1:] < level)
    lo = int(lo_part[-1]) + 1 if lo_part.size else 0
    hi = k + int(hi_part[0]) if hi_part.size else n - 1
    lo = max(0, min(lo, k - min_half_width))
    hi = min(n - 1, max(hi, k + min_half_width))
    if hi - lo + 1 < degree + 2:
        return None
    centre, scale = 0.5 * (lo + hi), 0.5 * (hi - lo)
    u = (np.arange(lo, hi + 1) - centre) / scale
    coef = np.polynomial.polynomial.polyfit(u, x[lo:hi + 1], degree)
    poly = np.polynomial.Polynomial(coef)
    d1, d2 = poly.deriv(1), poly.deriv(2)
    roots = d1.roots()
    roots = roots[np.abs(roots.imag) < 1e-9].real
    roots = roots[(roots >= -1.0) & (roots <= 1.0)]
    roots = roots[d2(roots) < 0] if roots.size else roots
    if roots.size == 0:
        return None
    vals = poly(roots)
    best = int(np.argmax(vals))
    return float(centre + roots[best] * scale), float(vals[best])


def refine_crossing(x: np.ndarray, y: np.ndarray, estimate: float, level: float,
                    half_band: float, degree: int = 2) -> float:
    """Sharpen a crossing time with a least-squares polynomial through nearby samples.

    ``estimate`` is the crossing found on the smoothed signal ``y``. The fit uses the
    unsmoothed samples ``x`` in the contiguous run around it where ``y`` is within
    ``half_band`` of ``level``, and returns the root of fit − level closest to the
    estimate. Where relaxation is slow a crossing read from a few samples moves with
    every noise sample; the fit averages all samples of that stretch. The estimate is
    returned unchanged when there are too few samples or no root in the window.
    """
    if not np.isfinite(estimate) or half_band <= 0:
        return estimate
    n = y.size
    i = int(round(estimate))
    if i < 0 or i >= n:
        return estimate
    if abs(float(y[i]) - level) > half_band:
        return estimate
    lo, hi = _band_run(y, i, level, half_band)
    if hi - lo + 1 < degree + 4:
        return estimate
    centre, scale = 0.5 * (lo + hi), 0.5 * (hi - lo)
    u = (np.arange(lo, hi + 1) - centre) / scale
    if degree == 2:
        roots = _quadratic_fit_roots(u, x[lo:hi + 1] - level)
    else:
        coef = np.polynomial.polynomial.polyfit(u, x[lo:hi + 1], degree)
        coef[0] -= level
        roots = np.polynomial.Polynomial(coef).roots()
        roots = roots[np.abs(roots.imag) < 1e-9].real
    roots = roots[(roots >= -1.0) & (roots <= 1.0)]
    if roots.size == 0:
        return estimate
    cand = centre + roots * scale
    return float(cand[np.argmin(np.abs(cand - estimate))])


#: samples each side of a crossing looked at first when finding its band (the whole
#: signal is scanned only when the band is longer)
_BAND_WINDOW = 2048


def _band_run(y: np.ndarray, i: int, level: float, half_band: float) -> tuple[int, int]:
    """First and last index of the contiguous run around ``i`` where ``y`` is within
    ``half_band`` of ``level`` (``y[i]`` is). Looks in a window first: per crossing,
    not per signal."""
    n = y.size
    a, b = max(0, i - _BAND_WINDOW), min(n, i + _BAND_WINDOW + 1)
    inside = np.abs(y[a:b] - level) <= half_band
    k = i - a
    lo_part = np.flatnonzero(~inside[:k])
    hi_part = np.flatnonzero(~inside[k + 1:])
    if (not lo_part.size and a > 0) or (not hi_part.size and b < n):
        a, b, k = 0, n, i                              # a longer band: the whole signal
        inside = np.abs(y - level) <= half_band
        lo_part = np.flatnonzero(~inside[:k])
        hi_part = np.flatnonzero(~inside[k + 1:])
    lo = a + int(lo_part[-1]) + 1 if lo_part.size else 0
    hi = a + k + int(hi_part[0]) if hi_part.size else n - 1
    return lo, hi


def _quadratic_fit_roots(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Real roots of the least-squares quadratic through (u, v) (normal equations on
    u in [-1, 1], well conditioned; the same fit as ``polyfit(u, v, 2)``)."""
    u2 = u * u
    s = [float(u.size), float(u.sum()), float(u2.sum()), float(u2 @ u), float(u2 @ u2)]
    t = [float(v.sum()), float(u @ v), float(u2 @ v)]
    m = np.array([[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]])
    try:
        c0, c1, c2 = np.linalg.solve(m, np.array(t))
    except np.linalg.LinAlgError:
        return np.zeros(0)
    if abs(c2) < 1e-12 * max(abs(c1), abs(c0), 1e-300):
        return np.array([-c0 / c1]) if c1 != 0 else np.zeros(0)
    disc = c1 * c1 - 4.0 * c2 * c0
    if disc < 0:
        return np.zeros(0)
    r = np.sqrt(disc)
    q = -0.5 * (c1 + np.copysign(r, c1))         # numerically stable quadratic roots
    roots = [q / c2] + ([c0 / q] if q != 0 else [])
    return np.array(roots, dtype=np.float64)
