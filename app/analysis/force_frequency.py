"""Force-frequency sigmoid: F(f) = Fmin + (Fmax − Fmin) / (1 + (m / f)^h).

Fmin and Fmax are the asymptotic forces at low and high frequency, m the sigmoid's
midpoint (the frequency giving half of the *range*, ``midpoint_hz``), h the Hill slope.
Fitted by least squares (``scipy.optimize.curve_fit``) on absolute forces.

**f50** is the frequency at which the fitted curve reaches 50 % of its maximum Fmax
(F(f50) = Fmax / 2): f50 = m / (Fmax / (Fmax − 2·Fmin))^(1/h), defined when
Fmin < Fmax / 2 (else the lowest frequency already gives half of maximal force and
f50 is NaN with a note). It equals m only when Fmin = 0.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

#: fewest distinct frequencies for a 4-parameter fit with a residual left over
MIN_POINTS = 5


def sigmoid(f: np.ndarray, fmin: float, fmax: float, f50: float, h: float) -> np.ndarray:
    """The force-frequency sigmoid (f > 0)."""
    f = np.asarray(f, dtype=np.float64)
    return fmin + (fmax - fmin) / (1.0 + (f50 / f) ** h)


@dataclass
class SigmoidFit:
    fmin_mN: float
    fmax_mN: float
    midpoint_hz: float
    hill_slope: float
    r_squared: float

    @property
    def f50_hz(self) -> float:
        """Frequency at which the fitted curve reaches 50 % of Fmax (NaN if below range)."""
        return half_max_frequency(self.fmin_mN, self.fmax_mN, self.midpoint_hz,
                                  self.hill_slope)

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "f50_hz": self.f50_hz}


def half_max_frequency(fmin: float, fmax: float, midpoint: float, h: float) -> float:
    """f with F(f) = Fmax / 2 on the sigmoid; NaN when Fmin >= Fmax / 2."""
    if not (fmax > 0 and fmin < 0.5 * fmax and midpoint > 0 and h > 0):
        return math.nan
    return float(midpoint / (fmax / (fmax - 2.0 * fmin)) ** (1.0 / h))


def fit_force_frequency(freq_hz: np.ndarray, force_mN: np.ndarray) -> tuple[SigmoidFit | None, str]:
    """Fit the sigmoid; returns (fit or None, note explaining a missing fit)."""
    f = np.asarray(freq_hz, dtype=np.float64)
    y = np.asarray(force_mN, dtype=np.float64)
    ok = np.isfinite(f) & np.isfinite(y) & (f > 0)
    f, y = f[ok], y[ok]
    if np.unique(f).size < MIN_POINTS:
        return None, (f"force-frequency fit needs at least {MIN_POINTS} frequencies "
                      f"(have {np.unique(f).size})")
    order = np.argsort(f)
    f, y = f[order], y[order]
    span = float(y.max() - y.min())
    if span <= 0:
        return None, "force does not change with frequency; no sigmoid to fit"
    mid = y.min() + 0.5 * span
    above = np.flatnonzero(y >= mid)
    f50_0 = float(f[above[0]]) if above.size else float(np.median(f))
    p0 = [float(y.min()), float(y.max()), f50_0, 3.0]
    lo = [y.min() - span, y.min(), f.min() / 10.0, 0.2]
    hi = [y.max(), y.max() + 2 * span, f.max() * 10.0, 30.0]
    p0 = [min(max(p, l + 1e-9 * abs(l) + 1e-12), h) for p, l, h in zip(p0, lo, hi)]
    from scipy.optimize import curve_fit     # here, not at the top: a slow import (startup)

    try:
        popt, _ = curve_fit(sigmoid, f, y, p0=p0, bounds=(lo, hi), maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        return None, f"force-frequency fit did not converge ({exc})"
    resid = y - sigmoid(f, *popt)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else math.nan
    fit = SigmoidFit(*(float(p) for p in popt), r_squared=r2)
    note = ""
    if not math.isfinite(fit.f50_hz):
        note = ("the fitted curve starts above 50 % of its maximum (Fmin >= Fmax/2): "
                "no f50")
    elif not (f.min() < fit.f50_hz < f.max()):
        note = "f50 lies outside the measured frequencies; treat the fit with caution"
    return fit, note
