"""The numpy Savitzky-Golay filter agrees with scipy's reference (mode='interp') and the
moving average with scipy.ndimage, over window lengths, orders, derivatives and rates."""
import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d
from scipy.signal import savgol_filter

from app.analysis.savgol import moving_average, savgol


@pytest.mark.parametrize("window", [3, 5, 11, 21, 41])
@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("deriv", [0, 1])
def test_savgol_matches_scipy_interp(window, order, deriv):
    if order >= window:
        pytest.skip("order must be below the window")
    rng = np.random.default_rng(window * 10 + order)
    x = np.cumsum(rng.normal(size=500)) + 1000.0
    fs = 10_000.0
    ours = savgol(x, window, order, deriv=deriv, fs=fs)
    ref = savgol_filter(x, window, order, deriv=deriv, delta=1.0 / fs, mode="interp")
    scale = np.abs(ref).max()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9 * scale)


def test_savgol_window_equal_to_length_and_bad_windows():
    x = np.linspace(0.0, 1.0, 7) ** 2
    np.testing.assert_allclose(savgol(x, 7, 2), savgol_filter(x, 7, 2, mode="interp"),
                               atol=1e-12)
    for bad in (4, 9):
        with pytest.raises(ValueError):
            savgol(x, bad, 2)


def test_savgol_is_exact_for_polynomials_of_its_order():
    t = np.arange(200) / 5000.0
    x = 3.0 + 40.0 * t - 900.0 * t ** 2
    np.testing.assert_allclose(savgol(x, 21, 2), x, atol=1e-9)
    np.testing.assert_allclose(savgol(x, 21, 2, deriv=1, fs=5000.0), 40.0 - 1800.0 * t,
                               atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 5, 6, 51])
def test_moving_average_matches_uniform_filter(n):
    x = np.random.default_rng(n).normal(size=300)
    np.testing.assert_allclose(moving_average(x, n),
                               uniform_filter1d(x, size=n, mode="nearest"), atol=1e-12)
