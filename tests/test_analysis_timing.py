"""Signal primitives of app.analysis.timing against signals with exact answers."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from app.analysis.timing import (
    blank, falling_crossing, fill_nan_runs, moving_average, odd_window, parabolic_peak,
    polynomial_peak, refine_crossing, rising_crossing_before, runs, smooth,
)


def test_odd_window_rounds_to_odd_samples():
    assert odd_window(2.0, 10_000) == 21
    assert odd_window(2.0, 1_000) == 3
    assert odd_window(0.0, 1_000) == 1


@settings(max_examples=30, deadline=None)
@given(a=st.floats(-5, 5), b=st.floats(0.2, 5), shift=st.floats(-0.49, 0.49))
def test_parabolic_peak_is_exact_for_a_parabola(a, b, shift):
    x = np.arange(11, dtype=float)
    vertex = 5 + shift
    y = a - b * (x - vertex) ** 2
    pos, val = parabolic_peak(y, 5)
    assert pos == pytest.approx(vertex, abs=1e-9)
    assert val == pytest.approx(a, abs=1e-9)


def test_polynomial_peak_is_exact_for_a_quartic():
    u = np.linspace(-1, 1, 201)
    y = 10 - 3 * (u - 0.1) ** 2 + 0.5 * (u - 0.1) ** 3 - 0.2 * (u - 0.1) ** 4
    k = int(np.argmax(y))
    pos, val = polynomial_peak(y, y, k, level=y.max() - 0.5, degree=4)
    assert np.interp(pos, np.arange(u.size), u) == pytest.approx(0.1, abs=1e-9)
    assert val == pytest.approx(10.0, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(slope=st.floats(0.1, 10), level=st.floats(0.05, 0.95))
def test_crossings_are_interpolated_linearly(slope, level):
    y = np.linspace(0, 1, 101) * slope                     # rises 0 -> slope
    lvl = level * slope
    up = rising_crossing_before(y, lvl, 0, y.size)
    assert up == pytest.approx(level * 100, abs=1e-6)
    down = falling_crossing(y[::-1].copy(), lvl, 0)
    assert down == pytest.approx(100 - level * 100, abs=1e-6)


def test_crossing_absent_is_nan():
    y = np.ones(50)
    assert math.isnan(falling_crossing(y, 0.5, 0))
    assert math.isnan(rising_crossing_before(y, 2.0, 0, 50))


def test_rising_crossing_ignores_noise_excursions_before_the_rise():
    y = np.zeros(100)
    y[10] = 0.8                      # an early spike above the level
    y[50:] = np.linspace(0, 1, 50)
    i_hi = int(np.argmax(y >= 0.9))
    c = rising_crossing_before(y, 0.5, 0, i_hi + 1)
    assert 50 < c < 80               # the rise, not the spike


def test_refine_crossing_averages_noise_on_a_slow_ramp():
    rng = np.random.default_rng(4)
    t = np.arange(2000, dtype=float)
    clean = 1000 - 0.5 * t                                 # crosses 500 at t = 1000
    x = clean + rng.normal(0, 2.0, t.size)
    y = smooth(x, 1000.0, 5.0)
    est = falling_crossing(y, 500.0, 0)
    refined = refine_crossing(x, y, est, 500.0, 50.0)
    assert abs(refined - 1000) < 1.0
    assert abs(refined - 1000) <= abs(est - 1000) + 0.5


def test_blank_replaces_artifact_by_straight_line():
    x = np.linspace(0, 10, 101)
    y = x.copy()
    y[[20, 21, 60]] = [500, -300, 900]
    out = blank(y, np.array([20, 60]), 3)
    np.testing.assert_allclose(out, x, atol=1e-12)
    assert y[20] == 500                                    # input untouched


def test_fill_nan_runs_only_fills_short_runs():
    x = np.arange(20, dtype=float)
    x[3] = np.nan
    x[10:15] = np.nan
    out, left, first = fill_nan_runs(x, 2)
    assert out[3] == pytest.approx(3.0)
    assert left == 5 and first == 10
    out, left, first = fill_nan_runs(x, 5)
    assert left == 0 and first == -1
    np.testing.assert_allclose(out, np.arange(20.0))


def test_runs_finds_run_starts_and_lengths():
    starts, lengths = runs(np.array([0, 1, 1, 0, 1, 0, 1, 1, 1], dtype=bool))
    assert starts.tolist() == [1, 4, 6] and lengths.tolist() == [2, 1, 3]


def test_smoothing_keeps_a_cubic_and_moving_average_keeps_a_line():
    t = np.linspace(-1, 1, 401)
    cubic = 1 + t - 2 * t ** 2 + 0.5 * t ** 3
    np.testing.assert_allclose(smooth(cubic, 200.0, 50.0)[20:-20], cubic[20:-20], atol=1e-9)
    line = 3 * t + 1
    np.testing.assert_allclose(moving_average(line, 9)[10:-10], line[10:-10], atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60))
def test_primitives_never_crash_on_arbitrary_data(values):
    y = np.asarray(values)
    k = int(np.argmax(y))
    parabolic_peak(y, k)
    polynomial_peak(y, y, k, y[k] - 1.0)
    falling_crossing(y, 0.0, 0)
    rising_crossing_before(y, 0.0, 0, y.size)
    refine_crossing(y, y, float(k), float(y[k]), 10.0)
