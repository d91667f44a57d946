"""Signals that real rigs produce, with known truth (issue 10): every measure is within
its documented tolerance, or carries the documented flag, or the trial is refused with
the documented flag code — never a number outside tolerance without one.

Each pathology runs over several random instances (shape, sample rate 1-20 kHz, noise,
amplitude) drawn from a seeded generator, so a failure names a reproducible seed.
"""
import math

import numpy as np
import pytest

from app.analysis import AnalysisConfig, analyze_recording
from app.recording import Recording
from tests.synthetic import GammaTwitch, tetanus_trace, twitch_trace

RATES = [1_000.0, 2_000.0, 5_000.0, 10_000.0, 20_000.0]
SEEDS = range(6)


def tol_ms(fs):
    return max(0.2, 1000.0 / fs)


def random_twitch(seed, **kw):
    """A noisy gamma twitch with random shape, rate, amplitude and baseline."""
    rng = np.random.default_rng(seed)
    fs = RATES[seed % len(RATES)]
    pt = float(rng.uniform(50, 2000))
    shape = GammaTwitch(float(rng.uniform(0.008, 0.025)), float(rng.uniform(2.5, 4.5)))
    args = dict(fs=fs, pt=pt, baseline=float(rng.uniform(-100, 300)),
                noise_sd=float(rng.uniform(0.001, 0.003)) * pt,
                latency_ms=float(rng.uniform(2.0, 4.0)), seed=seed)
    args.update(kw)
    return twitch_trace(shape, **args), rng


def only(trace, cfg=None, **metadata):
    res = analyze_recording(trace.recording(**metadata), cfg)
    assert len(res.trials) == 1
    return res.trials[0]


def assert_twitch_ok_or_flagged(r, truth, fs, codes):
    """Pt within 1 %, TPT/½RT within tolerance — or a flag from ``codes`` affecting
    the measure that is off (a refusal must carry its code too)."""
    if r.error is not None:
        assert set(r.flag_codes) & set(codes), (r.error, r.flag_codes)
        return
    off = set()
    if abs(r.peak_force_mN - truth["pt"]) > 0.01 * truth["pt"]:
        off.add("peak_force_mN")
    if abs(r.time_to_peak_ms - truth["tpt_ms"]) > tol_ms(fs):
        off.add("time_to_peak_ms")
    hrt = r.half_relaxation_ms
    if math.isfinite(hrt) and abs(hrt - truth["half_relaxation_ms"]) > tol_ms(fs):
        off.add("half_relaxation_ms")
    assert off <= r.flagged_measures(), (off, r.flag_codes, r.peak_force_mN, truth["pt"])


# ------------------------------------------------------------------ stimulus artefact
@pytest.mark.parametrize("seed", SEEDS)
def test_artefact_longer_than_blanking_is_followed(seed):
    """A decaying artefact 2-5x the twitch, lasting well past 1 ms: Pt is the twitch."""
    tr, rng = random_twitch(seed, latency_ms=3.5)
    s, fs = int(tr.stim[0]), tr.fs
    amp = float(rng.uniform(2, 5)) * tr.truth["pt"]
    tau = float(rng.uniform(0.15, 0.3)) / 1000.0
    k = np.arange(int(0.003 * fs))
    tr.force[s + k] += amp * np.exp(-k / fs / tau)
    r = only(tr)
    assert_twitch_ok_or_flagged(r, tr.truth, fs, ["artefact-peak"])
    assert r.error is not None or r.peak_force_mN < 1.01 * tr.truth["pt"]


@pytest.mark.parametrize("seed", SEEDS)
def test_artefact_without_contraction_is_never_pt(seed):
    """Only an artefact (nerve not stimulated): refused, never reported as Pt."""
    rng = np.random.default_rng(seed)
    fs = RATES[seed % len(RATES)]
    n, s = int(0.5 * fs), int(0.1 * fs)
    x = rng.normal(0, 0.5, n) + 20.0
    k = np.arange(int(0.004 * fs))
    x[s + k] += float(rng.uniform(100, 1000)) * np.exp(-k / fs / 0.0012)
    rec = Recording("a", "synthetic", fs, x, np.array([s]))
    r = analyze_recording(rec).trials[0]
    assert r.error is not None and not math.isfinite(r.peak_force_mN)


# ------------------------------------------------------------------ polarity
@pytest.mark.parametrize("seed", SEEDS)
def test_inverted_twitch_is_refused_or_measured_inverted(seed):
    tr, _ = random_twitch(seed)
    base = tr.truth["baseline"]
    tr.force = 2 * base - tr.force          # transducer wired the other way
    r = only(tr)
    assert r.error is not None and r.flag_codes == ["inverted"]
    assert "polarity" in r.error
    r2 = only(tr, AnalysisConfig(force_polarity="negative"))
    assert r2.error is None and "measured-inverted" in r2.flag_codes
    assert r2.peak_force_mN == pytest.approx(tr.truth["pt"], rel=0.01)
    assert abs(r2.time_to_peak_ms - tr.truth["tpt_ms"]) <= tol_ms(tr.fs)


# ------------------------------------------------------------------ two contractions
@pytest.mark.parametrize("seed", SEEDS)
def test_second_contraction_in_the_window_is_flagged_and_first_measured(seed):
    tr, rng = random_twitch(seed)
    fs, s = tr.fs, int(tr.stim[0])
    shape = GammaTwitch(0.015, 3.0)
    delay = float(rng.uniform(0.04, 0.09))
    t = np.arange(tr.force.size) / fs - (s / fs + delay)
    tr.force += float(rng.uniform(0.6, 1.5)) * tr.truth["pt"] * shape(t)
    r = only(tr)
    assert "multiple-contractions" in r.flag_codes
    assert r.error is None
    assert r.peak_force_mN == pytest.approx(tr.truth["pt"], rel=0.01)
    assert abs(r.time_to_peak_ms - tr.truth["tpt_ms"]) <= tol_ms(fs)
    assert_twitch_ok_or_flagged(r, tr.truth, fs, [])


def test_single_twitch_and_fused_tetanus_are_not_multiple():
    for seed in SEEDS:
        tr, _ = random_twitch(seed)
        assert only(tr).flags == []
    # both rise to a flat plateau, where the time to peak is anywhere on it: flagged
    # tpt-ambiguous (docs/analysis.md §4), and nothing else
    tet = tetanus_trace(fs=10_000.0, freq=150, pulses=45, plateau=1500, noise_sd=1.0)
    assert only(tet).flag_codes == ["tpt-ambiguous"]
    rippled = tetanus_trace(fs=10_000.0, freq=50, pulses=15, plateau=800, ripple=60,
                            noise_sd=0.5)
    assert only(rippled).flag_codes == ["tpt-ambiguous"]


# ------------------------------------------------------------------ baseline
@pytest.mark.parametrize("seed", SEEDS)
def test_linear_drift_is_extrapolated_and_flagged(seed):
    tr, rng = random_twitch(seed)
    fs = tr.fs
    # 1-3 x Pt per second: the force at the peak moves by 2-12 % of Pt
    slope = float(rng.choice([-1, 1]) * rng.uniform(1.0, 3.0)) * tr.truth["pt"]  # mN/s
    tr.force += slope * np.arange(tr.force.size) / fs
    r = only(tr)
    assert "baseline-drift" in r.flag_codes
    assert r.peak_force_mN == pytest.approx(tr.truth["pt"], rel=0.01)
    assert abs(r.time_to_peak_ms - tr.truth["tpt_ms"]) <= tol_ms(fs)
    assert abs(r.half_relaxation_ms - tr.truth["half_relaxation_ms"]) <= 2 * tol_ms(fs)


@pytest.mark.parametrize("seed", SEEDS)
def test_twitch_on_the_tail_of_a_previous_contraction(seed):
    """The issue's case: Pt -22 %, ½RT -38 % with no flag. Now: within tolerance or
    flagged (baseline-drift / baseline-shift)."""
    tr, rng = random_twitch(seed)
    fs, s = tr.fs, int(tr.stim[0])
    t = (np.arange(tr.force.size) - s) / fs
    tail = float(rng.uniform(0.3, 0.8)) * tr.truth["pt"] * np.exp(-(t + 0.03) / 0.04)
    tr.force += np.where(t > -0.09, tail, 0.0)
    r = only(tr)
    assert_twitch_ok_or_flagged(r, tr.truth, fs, ["baseline-drift", "baseline-shift"])


@pytest.mark.parametrize("seed", SEEDS)
def test_baseline_step_after_the_contraction_is_flagged(seed):
    tr, rng = random_twitch(seed)
    s = int(tr.stim[0])
    # creep of 10 % of Pt over 150 ms after relaxation (slower than a contraction)
    t = (np.arange(tr.force.size) - s) / tr.fs
    ramp = np.clip((t - 0.2) / 0.15, 0.0, 1.0)
    tr.force += float(rng.choice([-1, 1])) * 0.1 * tr.truth["pt"] * ramp
    r = only(tr)
    assert "baseline-shift" in r.flag_codes
    assert r.peak_force_mN == pytest.approx(tr.truth["pt"], rel=0.01)


# ------------------------------------------------------------------ saturation
def clipped_tetanus(seed, lsb_noise):
    rng = np.random.default_rng(seed)
    fs = RATES[seed % len(RATES)]
    tr = tetanus_trace(fs=fs, freq=150, pulses=45, plateau=float(rng.uniform(500, 3000)),
                       noise_sd=1.0, seed=seed)
    rail = 0.85 * tr.truth["po"]
    lsb = 0.05
    x = np.minimum(tr.force, rail)
    if lsb_noise:
        on = x >= rail
        x[on] -= lsb * rng.integers(0, 2, on.sum())
    tr.force = x
    return tr


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lsb_noise", [False, True])
def test_clipped_tetanus_is_refused_even_with_noise_on_the_rail(seed, lsb_noise):
    r = only(clipped_tetanus(seed, lsb_noise))
    assert r.error is not None and r.flag_codes == ["clipped"]
    assert not math.isfinite(r.peak_force_mN)


@pytest.mark.parametrize("seed", SEEDS)
def test_noisy_plateau_is_not_taken_for_clipping(seed):
    rng = np.random.default_rng(seed)
    fs = RATES[seed % len(RATES)]
    tr = tetanus_trace(fs=fs, freq=200, pulses=80, plateau=float(rng.uniform(500, 3000)),
                       noise_sd=float(rng.uniform(0.3, 2.0)), seed=seed)
    r = only(tr)
    assert r.error is None, r.error
    assert r.peak_force_mN == pytest.approx(tr.truth["po"], rel=0.01)


# noisy broad twitch tops the quiet-top rule refused as a rail when its threshold was half
# the baseline noise (found by a search over 20 000 seeds: the stretch within 4 SD of the
# maximum is chosen by amplitude, which trims its noise); see docs/analysis.md, saturation
@pytest.mark.parametrize("seed", [6774, 9492])
def test_a_noisy_broad_twitch_top_is_not_taken_for_a_rail(seed):
    tr = twitch_trace(GammaTwitch(0.020, 3.0), fs=10_000.0, pt=1000.0, noise_sd=2.5, seed=seed)
    r = only(tr)
    assert r.error is None, r.error
    assert r.peak_force_mN == pytest.approx(tr.truth["pt"], rel=0.01)


def test_h5_full_scale_from_the_calibration_refuses_clipped_force():
    tr = tetanus_trace(fs=10_000.0, freq=150, pulses=45, plateau=1000, noise_sd=1.0)
    rec = tr.recording()
    rec.force_limits_mN = (-2000.0, 900.0)          # +full scale below Po
    r = analyze_recording(rec).trials[0]
    assert r.flag_codes == ["clipped"] and "full scale" in r.error
    rec.force_limits_mN = (-2000.0, 5000.0)
    assert analyze_recording(rec).trials[0].error is None


# ------------------------------------------------------------------ the flag catalogue
def test_every_flag_is_documented():
    from pathlib import Path

    from app.analysis.flags import FLAGS
    doc = (Path(__file__).resolve().parents[1] / "docs" / "analysis.md").read_text()
    for code in FLAGS:
        assert f"`{code}`" in doc, code


def test_flags_in_json_and_flagged_measures():
    tr, _ = random_twitch(0)
    tr.force += 2.0 * tr.truth["pt"] * np.arange(tr.force.size) / tr.fs
    r = only(tr)
    d = r.to_dict()
    assert d["flags"][0]["code"] == "baseline-drift" and "mN/s" in d["flags"][0]["text"]
    assert "peak_force_mN" in r.flagged_measures()


# ------------------------------------------------------------------ trains
@pytest.mark.parametrize("freq", [1.0, 2.0, 5.0, 10.0, 40.0, 150.0])
@pytest.mark.parametrize("clock", [0.995, 1.0, 1.005])
def test_trains_grouped_by_regular_spacing_whatever_the_clock(freq, clock):
    """Twitches 3 s apart, then a train at ``freq`` from a clock off by ±0.5 %, then two
    twitches: always 1 + 1 train + 2, never a train split into twitches."""
    from app.recording import trials_from_pulses
    fs = 5_000.0
    period = fs / (freq * clock)
    train = 20_000 + np.round(np.arange(8) * period).astype(np.int64)
    stim = np.concatenate(([5_000], train, train[-1] + [15_000, 30_000]))
    trials = trials_from_pulses(stim, fs, int(stim[-1] + fs))
    assert [t.pulses for t in trials] == [1, 8, 1, 1]
    assert trials[1].kind == "tetanus"
    span = 7 * period                   # markers on whole samples: ±1 sample over the span
    assert trials[1].frequency_hz == pytest.approx(freq * clock, rel=1.5 / span)


def test_csv_train_option_and_ddf_protocol_rate(tmp_path):
    from app.importers import load_recording
    from tests.synthetic import write_csv
    fs = 2_000.0
    tr = tetanus_trace(fs=fs, freq=5, pulses=6, plateau=300, ripple=100, noise_sd=0.2,
                       tau_rise_s=0.01)
    path = tmp_path / "t5.csv"
    write_csv(tr.recording(), path)
    res = analyze_recording(load_recording(path))
    assert [t.pulses for t in res.trials] == [6]
    # with --train-min-hz 10 the 5 Hz pulses are separate twitches (documented option)
    res10 = analyze_recording(load_recording(path), AnalysisConfig(train_min_hz=10.0))
    assert [t.pulses for t in res10.trials] == [1] * 6


def test_work_loop_session_has_no_po():
    tr = tetanus_trace(fs=5_000.0, freq=100, pulses=20, plateau=800, noise_sd=0.5)
    res = analyze_recording(tr.recording(experiment="workloop"))
    assert res.trials[0].flag_codes[0] == "not-isometric"
    assert not math.isfinite(res.summary.po_mN)
    assert any("no Po" in n for n in res.summary.notes)


@pytest.mark.parametrize("seed", SEEDS)
def test_tetanus_with_artefacts_is_never_taken_for_clipped_and_drift_is_flagged(seed):
    """Decaying artefacts at every pulse of a fused train (blanked samples are straight
    lines, quieter than noise: they must not pass for a rail); a drifting tetanus."""
    rng = np.random.default_rng(seed)
    fs = RATES[seed % len(RATES)]
    po = float(rng.uniform(500, 3000))
    tr = tetanus_trace(fs=fs, freq=150, pulses=45, plateau=po, noise_sd=0.002 * po, seed=seed)
    k = np.arange(int(0.002 * fs))
    for s in tr.stim:
        idx = s + k
        idx = idx[idx < tr.force.size]
        tr.force[idx] += float(rng.uniform(1, 3)) * po * np.exp(-(idx - s) / fs / 0.0002)
    r = only(tr)
    assert r.error is None, r.error
    assert r.peak_force_mN == pytest.approx(tr.truth["po"], rel=0.015)
    drift = tetanus_trace(fs=fs, freq=150, pulses=45, plateau=po, noise_sd=0.002 * po, seed=seed)
    drift.force += float(rng.uniform(1, 3)) * po * np.arange(drift.force.size) / fs
    r = only(drift)
    assert "baseline-drift" in r.flag_codes and r.error is None
    assert r.peak_force_mN == pytest.approx(drift.truth["po"], rel=0.02)
