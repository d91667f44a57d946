"""Force-frequency sigmoid: F(f) = Fmin + (Fmax − Fmin) / (1 + (m / f)^h).

Fmin and Fmax are the asymptotic forces at low and high frequency, m the sigmoid's
midpoint (the frequency giving half of the *range*, ``midpoint_hz``), h the Hill slope.
Fitted by least squares on absolute forces. The model is linear in Fmin and Fmax for
a given (m, h), so the starts are found by variable projection: Fmin and Fmax are
solved exactly for every (m, h) on a log grid, and the grid's best local minima (up to
four) each start a Levenberg–Marquardt fit of all four parameters, every step projected
into the bounds. Numpy only (importing scipy.optimize alone costs ~0.4 s of a command's
start), deterministic, and not tied to one start guess: against scipy's bounded
``curve_fit`` on random noisy curves it never leaves a larger residual beyond rounding
(tests/test_force_frequency_fit.py), and sometimes a much smaller one where curve_fit
stops in a local minimum. Bounds: m in [f_lowest / 10, f_highest · 10], h in [0.2, 30],
Fmin in [y_min − span, y_max], Fmax in [y_min, y_max + 2·span].

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
#: Hill slope search range
H_RANGE = (0.2, 30.0)
#: grid points per axis of the starting (m, h) search; Levenberg–Marquardt iterations
_GRID = 48
_LM_ITERATIONS = 500
#: local fits started from the best local minima of the grid
_STARTS = 4


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
    lo = (y.min() - span, y.min())          # bounds on Fmin and on Fmax
    hi = (y.max(), y.max() + 2 * span)
    popt = _least_squares_fit(f, y, lo, hi)
    if popt is None:
        return None, "force-frequency fit did not converge (no sigmoid within the bounds)"
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


def _projected_residuals(f: np.ndarray, y: np.ndarray, log_m: np.ndarray, log_h: np.ndarray,
                         lo: tuple[float, float], hi: tuple[float, float]):
    """For every (m, h) pair: the best Fmin, Fmax (exact linear least squares) and the
    residual sum of squares; pairs whose Fmin/Fmax fall outside the bounds get +inf."""
    m = np.exp(log_m)[:, None]
    h = np.exp(log_h)[:, None]
    g = 1.0 / (1.0 + (m / f[None, :]) ** h)              # (pairs, points)
    n = f.size
    sg, sgg = g.sum(axis=1), (g * g).sum(axis=1)
    sy, sgy = y.sum(), g @ y
    det = n * sgg - sg * sg
    with np.errstate(divide="ignore", invalid="ignore"):
        b = (n * sgy - sg * sy) / det                     # Fmax − Fmin
        a = (sy - b * sg) / n                             # Fmin
        resid = y[None, :] - (a[:, None] + b[:, None] * g)
        ss = (resid * resid).sum(axis=1)
        fmax = a + b
    bad = ~((det > 1e-12 * n * n) & (a >= lo[0]) & (a <= hi[0]) & (fmax >= lo[1])
            & (fmax <= hi[1]) & np.isfinite(ss))
    ss[bad] = np.inf
    return a, fmax, ss


def _least_squares_fit(f: np.ndarray, y: np.ndarray, lo: tuple[float, float],
                       hi: tuple[float, float]) -> tuple[float, float, float, float] | None:
    """(Fmin, Fmax, m, h) minimising the squared residuals within the bounds, or None.

    Starts: the best local minima (up to ``_STARTS``) of a log grid over (m, h), with
    Fmin, Fmax solved exactly at each point; from each, Levenberg–Marquardt on all four
    parameters, every step projected into the bounds; the lowest residual wins."""
    box = np.array([[lo[0], hi[0]], [lo[1], hi[1]],
                    [f.min() / 10.0, f.max() * 10.0], list(H_RANGE)])
    lm, lh = (a.ravel() for a in np.meshgrid(
        np.linspace(math.log(box[2, 0]), math.log(box[2, 1]), _GRID),
        np.linspace(math.log(box[3, 0]), math.log(box[3, 1]), _GRID), indexing="ij"))
    fmin, fmax, ss = _projected_residuals(f, y, lm, lh, lo, hi)
    starts = _grid_minima(ss.reshape(_GRID, _GRID))[:_STARTS]
    if not starts.size:
        return None
    best, best_cost = None, math.inf
    for i in starts:
        p = _levenberg_marquardt(f, y, np.array([fmin[i], fmax[i], math.exp(lm[i]),
                                                 math.exp(lh[i])]), box)
        r = y - sigmoid(f, *p)
        if float(r @ r) < best_cost:
            best, best_cost = p, float(r @ r)
    return tuple(float(v) for v in best)


def _grid_minima(ss: np.ndarray) -> np.ndarray:
    """Flat indices of the grid's finite local minima (no lower 8-neighbour), best first:
    each starts a local fit, so a second valley of the residual is not missed."""
    padded = np.pad(ss, 1, constant_values=np.inf)
    rows, cols = ss.shape
    is_min = np.isfinite(ss)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                is_min &= ss <= padded[1 + dr:1 + dr + rows, 1 + dc:1 + dc + cols]
    idx = np.flatnonzero(is_min.ravel())
    return idx[np.argsort(ss.ravel()[idx], kind="stable")]


def _jacobian(f: np.ndarray, p: np.ndarray) -> np.ndarray:
    """d sigmoid / d (Fmin, Fmax, m, h) at every frequency."""
    a, c, m, h = p
    u = (m / f) ** h
    g = 1.0 / (1.0 + u)
    dg = -(c - a) * g * g * u                     # (c − a) · dg/du · u
    return np.column_stack([1.0 - g, g, dg * h / m, dg * np.log(m / f)])


def _levenberg_marquardt(f: np.ndarray, y: np.ndarray, p: np.ndarray,
                         box: np.ndarray) -> np.ndarray:
    """Minimise the squared residuals from ``p``, every step clipped into ``box``."""
    def cost(q: np.ndarray) -> float:
        r = y - sigmoid(f, *q)
        return float(r @ r)

    damping, current = 1e-3, cost(p)
    for _ in range(_LM_ITERATIONS):
        jac = _jacobian(f, p)
        grad = jac.T @ (y - sigmoid(f, *p))
        # parameters held at a bound the descent pushes against stay there (active set)
        free = ~(((p <= box[:, 0]) & (grad < 0)) | ((p >= box[:, 1]) & (grad > 0)))
        jtj = jac[:, free].T @ jac[:, free]
        step = np.zeros_like(p)
        try:
            step[free] = np.linalg.solve(jtj + damping * np.diag(np.diag(jtj) + 1e-12),
                                         grad[free])
        except np.linalg.LinAlgError:
            damping *= 10.0
            continue
        trial = np.clip(p + step, box[:, 0], box[:, 1])
        new = cost(trial)
        if new < current:
            done = current - new <= 1e-15 * current
            p, current, damping = trial, new, max(damping / 3.0, 1e-12)
            if done:
                break
        else:
            damping *= 4.0
            if damping > 1e12:
                break
    return p
