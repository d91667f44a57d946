"""Tetanic time to peak (docs/analysis.md §4): the highest point of the force averaged
over one pulse interval, so that near-identical unfused tetani give the same TPT instead
of jumping by a pulse interval to whichever ripple crest noise made highest; a plateau
without a peak is flagged ``tpt-ambiguous``."""
import math

import numpy as np
import pytest

from app.analysis import analyze_recording
from app.recording import Recording
from tests.synthetic import tetanus_trace

FS = 10_000.0


def bump_tetanus(seed, freq=40.0, ripple=0.1, noise=0.002, fs=FS, width_s=0.08):
    """An unfused train whose envelope peaks (Gaussian bump, 150 ms after onset) exactly
    on a ripple trough: the two crests either side are equally high, so the highest
    sample is on one or the other by noise. Returns (Recording, true TPT in ms)."""
    P, s, lat, train = 1000.0, int(0.1 * fs), 0.0025, 0.3
    n = int(0.8 * fs)
    t = np.arange(n) / fs
    stim = s + np.round(np.arange(int(train * freq)) * fs / freq).astype(np.int64)
    t_on = s / fs + lat
    tp = t_on + 0.15
    tau = np.clip(t - t_on, 0.0, None)
    env = P * (1 - np.exp(-tau / 0.01)) * np.exp(-0.5 * ((t - tp) / width_s) ** 2)
    # ripple trough at tp: -cos is even about tp, so the envelope's symmetry is kept
    wave = 1.0 - ripple * np.cos(2 * np.pi * freq * (t - tp))
    end = t_on + train
    after = np.where(t > end, np.exp(-np.clip(t - end, 0, None) / 0.02), 1.0)
    force = 20.0 + np.where(t > t_on, env * wave, 0.0) * after
    force += np.random.default_rng(seed).normal(0.0, noise * P, n)
    rec = Recording("bump", "synthetic", fs, force, stim)
    return rec, (tp - s / fs) * 1000.0


@pytest.mark.parametrize("freq", [30.0, 40.0, 60.0])
def test_near_identical_unfused_tetani_give_the_same_tpt(freq):
    period_ms = 1000.0 / freq
    tpts = []
    for seed in range(8):
        rec, truth = bump_tetanus(seed, freq=freq)
        r = analyze_recording(rec).trials[0]
        assert r.error is None and "tpt-ambiguous" not in r.flag_codes, r.flags
        assert r.fusion_index < 0.95                         # unfused
        assert abs(r.time_to_peak_ms - truth) <= 0.1 * period_ms, (seed, r.time_to_peak_ms)
        tpts.append(r.time_to_peak_ms)
    # the highest sample alternates between the crests at truth ± T/2: a spread of T
    assert max(tpts) - min(tpts) <= 0.2 * period_ms, tpts


def test_po_is_still_the_highest_crest():
    rec, _ = bump_tetanus(0)
    r = analyze_recording(rec).trials[0]
    crest = 1000.0 * math.exp(-0.5 * (0.0125 / 0.08) ** 2) * 1.1    # crest at tp ± T/2
    assert r.peak_force_mN == pytest.approx(crest, rel=0.01)


@pytest.mark.parametrize("freq,ripple", [(50.0, 60.0), (150.0, 0.0)])
def test_a_plateau_without_a_peak_is_flagged_tpt_ambiguous(freq, ripple):
    """The synthetic tetanus rises to a flat plateau: its TPT is anywhere on it."""
    tr = tetanus_trace(fs=FS, freq=freq, pulses=int(0.3 * freq), plateau=800.0,
                       ripple=ripple, noise_sd=0.5)
    r = analyze_recording(tr.recording()).trials[0]
    assert r.error is None and "tpt-ambiguous" in r.flag_codes
    assert {"time_to_peak_ms", "contraction_time_ms"} <= r.flagged_measures()
    assert "peak_force_mN" not in r.flagged_measures()


def test_unflagged_tpt_is_reproducible_or_flagged():
    """Over noise seeds and shapes: an unflagged TPT never moves by more than a tenth of a
    pulse interval between near-identical trials."""
    for freq, width in ((25.0, 0.06), (40.0, 0.12), (80.0, 0.2), (100.0, 1.0)):
        unflagged = []
        for seed in range(6):
            rec, _ = bump_tetanus(seed, freq=freq, width_s=width)
            r = analyze_recording(rec).trials[0]
            if "tpt-ambiguous" not in r.flag_codes:
                unflagged.append(r.time_to_peak_ms)
        if len(unflagged) > 1:
            assert max(unflagged) - min(unflagged) <= 0.1 * 1000.0 / freq, (freq, unflagged)
