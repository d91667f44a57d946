"""The numpy force-frequency fit against scipy's bounded curve_fit (the fit it replaced):
on random noisy sigmoids it never leaves a larger residual, and it recovers the true
parameters of a noise-free curve."""
import numpy as np
import pytest
from scipy.optimize import curve_fit

from app.analysis.force_frequency import fit_force_frequency, sigmoid

FREQS = [1, 5, 10, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200]


def _scipy_residual(f, y):
    span = y.max() - y.min()
    lo = [y.min() - span, y.min(), f.min() / 10, 0.2]
    hi = [y.max(), y.max() + 2 * span, f.max() * 10, 30]
    above = np.flatnonzero(y >= y.min() + 0.5 * span)
    p0 = [y.min(), y.max(), f[above[0]], 3.0]
    p0 = [min(max(p, l + 1e-9 * abs(l) + 1e-12), h) for p, l, h in zip(p0, lo, hi)]
    try:
        popt, _ = curve_fit(sigmoid, f, y, p0=p0, bounds=(lo, hi), maxfev=20000)
    except RuntimeError:
        return np.inf
    return float(np.sum((y - sigmoid(f, *popt)) ** 2))


@pytest.mark.parametrize("seed", range(6))
def test_never_a_larger_residual_than_curve_fit(seed):
    rng = np.random.default_rng(seed)
    for _ in range(15):
        f = np.sort(rng.choice(FREQS, size=rng.integers(5, 10), replace=False)).astype(float)
        fmin = rng.uniform(0, 800)
        fmax = fmin + rng.uniform(200, 3000)
        y = sigmoid(f, fmin, fmax, rng.uniform(10, 120), rng.uniform(1, 8))
        y = y + rng.normal(0, rng.uniform(0, 0.05) * (fmax - fmin), f.size)
        fit, _ = fit_force_frequency(f, y)
        assert fit is not None
        ours = float(np.sum((y - sigmoid(f, fit.fmin_mN, fit.fmax_mN, fit.midpoint_hz,
                                         fit.hill_slope)) ** 2))
        assert ours <= _scipy_residual(f, y) * (1 + 1e-6) + 1e-9


def test_recovers_a_noise_free_curve():
    f = np.array([1, 10, 20, 40, 60, 80, 100, 150], float)
    fit, note = fit_force_frequency(f, sigmoid(f, 120.0, 2400.0, 45.0, 3.5))
    assert note == ""
    assert fit.fmin_mN == pytest.approx(120.0, rel=1e-4)
    assert fit.fmax_mN == pytest.approx(2400.0, rel=1e-5)
    assert fit.midpoint_hz == pytest.approx(45.0, rel=1e-5)
    assert fit.hill_slope == pytest.approx(3.5, rel=1e-4)
