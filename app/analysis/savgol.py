"""Savitzky-Golay smoothing and differentiation in numpy, with cached coefficients.

Why not ``scipy.signal.savgol_filter``: importing it pulls in ``scipy.stats`` (most
of the start-up time of ``myoforce analyze``), and on short trial windows it spends
most of its time recomputing the same coefficients and re-fitting the two edges with
a fresh least-squares solve on every call. Here both are linear maps that depend only
on (window, polynomial order, derivative, sample rate), so they are computed once and
cached; a call is one correlation plus two small matrix products.

Edge treatment (the first and last ``window // 2`` samples, where a centred window
does not fit): the polynomial fitted by least squares to the first (last) full window
is evaluated at those samples — the same rule as scipy's ``mode="interp"``, so the
results agree with it to rounding error (tests/test_savgol.py checks this). Being a
fixed matrix per window, it costs ``window × window // 2`` multiplications per edge.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def _design(window: int, polyorder: int, deriv: int, fs: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centre coefficients, left-edge matrix, right-edge matrix) of one filter.

    ``u`` runs over -h..h (h = window // 2); the pseudo-inverse of the Vandermonde matrix
    maps the window's samples to the polynomial's coefficients; evaluating the
    ``deriv``-th derivative at u = 0 gives the centre coefficients, at u = -h..-1 and
    1..h the edge matrices. Scaled by ``fs ** deriv`` so a derivative is per second.
    """
    h = window // 2
    u = np.arange(-h, h + 1, dtype=np.float64)
    vander = u[:, None] ** np.arange(polyorder + 1)[None, :]
    pinv = np.linalg.pinv(vander)                      # (order+1) x window

    def evaluate(points: np.ndarray) -> np.ndarray:
        powers = np.arange(polyorder + 1)
        rows = np.zeros((points.size, polyorder + 1))
        for p in powers[deriv:]:
            rows[:, p] = math.perm(p, deriv) * points ** (p - deriv)
        return rows @ pinv * fs ** deriv

    centre = evaluate(np.zeros(1))[0]
    left = evaluate(np.arange(-h, 0, dtype=np.float64))
    right = evaluate(np.arange(1, h + 1, dtype=np.float64))
    for a in (centre, left, right):
        a.setflags(write=False)
    return centre, left, right


def savgol(x: np.ndarray, window: int, polyorder: int, deriv: int = 0,
           fs: float = 1.0) -> np.ndarray:
    """Savitzky-Golay filter of ``x`` (odd ``window`` ≤ len(x), ``polyorder`` < window).

    ``deriv`` = 0 smooths; 1 gives the first derivative per unit of 1/``fs`` (per
    second when ``fs`` is the sample rate).
    """
    x = np.asarray(x, dtype=np.float64)
    if window % 2 != 1 or window > x.size or polyorder >= window:
        raise ValueError(f"savgol: window {window} must be odd, <= {x.size} samples and "
                         f"> polyorder {polyorder}")
    centre, left, right = _design(int(window), int(polyorder), int(deriv), float(fs))
    h = window // 2
    out = np.empty_like(x)
    out[h:x.size - h] = np.correlate(x, centre, mode="valid")
    out[:h] = left @ x[:window]
    out[x.size - h:] = right @ x[x.size - window:]
    return out


def moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over ``n`` samples; the ends repeat the edge values.

    Same window placement as ``scipy.ndimage.uniform_filter1d(mode="nearest")``: for
    an even ``n`` the window covers n//2 samples before and n//2 - 1 after.
    """
    x = np.asarray(x, dtype=np.float64)
    n = int(n)
    if n <= 1 or x.size == 0:
        return np.array(x, copy=True)
    before, after = n // 2, n - 1 - n // 2
    padded = np.concatenate((np.full(before, x[0]), x, np.full(after, x[-1])))
    c = np.concatenate(([0.0], np.cumsum(padded)))
    return (c[n:] - c[:-n]) / n
