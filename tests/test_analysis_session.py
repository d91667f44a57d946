"""Per-session summary: Pt, Po, Pt/Po, force-frequency sigmoid fit, fatigue, specific force."""
import math

import numpy as np
import pytest

from app.analysis import AnalysisConfig, analyze_recording
from app.analysis.force_frequency import fit_force_frequency, half_max_frequency, sigmoid
from app.analysis.muscles import canonical_muscle, fibre_length_ratio, specific_force_n_per_cm2
from app.recording import trials_from_pulses, train_frequency
from tests.synthetic import SessionSpec, ff_sigmoid, session_recording


@pytest.mark.parametrize("fmin,fmax,f50,h", [(100, 1000, 45, 3.5), (20, 300, 18, 2.2),
                                             (250, 2600, 70, 5.0)])
def test_sigmoid_fit_recovers_known_parameters(fmin, fmax, f50, h):
    f = np.array([1, 10, 20, 30, 40, 50, 60, 80, 100, 150, 200], dtype=float)
    y = ff_sigmoid(f, fmin, fmax, f50, h)
    noisy = y * (1 + np.random.default_rng(0).normal(0, 0.003, f.size))
    fit, note = fit_force_frequency(f, noisy)
    assert fit is not None, note
    assert fit.midpoint_hz == pytest.approx(f50, rel=0.03)
    assert fit.f50_hz == pytest.approx(half_max_frequency(fmin, fmax, f50, h), rel=0.03)
    assert float(sigmoid(fit.f50_hz, fit.fmin_mN, fit.fmax_mN, fit.midpoint_hz,
                         fit.hill_slope)) == pytest.approx(0.5 * fit.fmax_mN, rel=1e-9)
    assert fit.hill_slope == pytest.approx(h, rel=0.1)
    assert fit.fmax_mN == pytest.approx(fmax, rel=0.02)
    assert fit.fmin_mN == pytest.approx(fmin, abs=0.05 * fmax)
    assert fit.r_squared > 0.99
    np.testing.assert_allclose(sigmoid(f, fit.fmin_mN, fit.fmax_mN, fit.midpoint_hz,
                                       fit.hill_slope),
                               y, rtol=0.02)


def test_sigmoid_fit_needs_enough_frequencies():
    fit, note = fit_force_frequency(np.array([50.0, 100.0, 200.0]), np.array([1.0, 2.0, 2.1]))
    assert fit is None and "at least" in note


def test_session_summary_recovers_known_values():
    spec = SessionSpec(fs=5_000.0, twitches=3, fatigue_trains=16, noise_sd=0.2)
    rec, truth = session_recording(spec, muscle="EDL", muscle_mass_mg=150.0,
                                   muscle_length_mm=35.0, species="rat")
    res = analyze_recording(rec)
    s = res.summary
    assert s["n_failed"] == 0 and s["n_twitches"] == 3
    assert s["n_tetani"] == len(spec.ff_freqs) + 16
    assert s["pt_mN"] == pytest.approx(truth["pt"], rel=0.01)
    assert s["po_mN"] == pytest.approx(truth["po"], rel=0.01)
    assert s["pt_po_ratio"] == pytest.approx(truth["pt"] / truth["po"], rel=0.02)
    assert s["sigmoid_midpoint_hz"] == pytest.approx(truth["f50"], rel=0.03)
    assert s["f50_hz"] == pytest.approx(half_max_frequency(
        truth["fmin"], truth["fmax"], truth["f50"], truth["hill"]), rel=0.03)
    assert s["hill_slope"] == pytest.approx(truth["hill"], rel=0.1)
    ff = s["force_frequency"]
    assert ff["frequency_hz"] == [1.0] + [float(f) for f in spec.ff_freqs]   # fatigue excluded
    assert max(ff["force_normalized"]) == 1.0
    # fatigue: last/first, and the time force first fell to 50 % (interpolated)
    assert s["fatigue_index"] == pytest.approx(truth["fatigue_index"], rel=0.02)
    f = np.array(truth["fatigue_forces"])
    t = np.array(truth["fatigue_times"])
    assert (f <= 0.5 * f[0]).any()
    i = int(np.argmax(f <= 0.5 * f[0]))
    t50 = np.interp(0.5 * f[0], [f[i], f[i - 1]], [t[i], t[i - 1]])
    assert s["fatigue_time_to_50pct_s"] == pytest.approx(t50, abs=0.05)
    # specific force: Po / (mass / (Lo * 0.44 * 1.06))
    csa_cm2 = 0.150 / (3.5 * 0.44 * 1.06)
    assert s["specific_force_N_per_cm2"] == pytest.approx(truth["po"] / 1000 / csa_cm2, rel=0.01)
    assert s["fibre_length_ratio"] == 0.44


def test_fatigue_series_from_step_names_and_twitch_mean_option():
    spec = SessionSpec(fs=2_000.0, twitches=2, ff_freqs=(50, 100), fatigue_trains=3,
                       with_trials=True, noise_sd=0.0)
    rec, truth = session_recording(spec)
    res = analyze_recording(rec, AnalysisConfig(twitch_summary="mean"))
    s = res.summary
    assert s["fatigue"]["n_trains"] == 3          # < fatigue_min_trains, found by step name
    assert s["fatigue_index"] == pytest.approx(truth["fatigue_index"], rel=0.02)
    assert s["pt_mN"] == pytest.approx(truth["pt"], rel=0.01)
    assert s["f50_hz"] != s["f50_hz"]              # NaN: 3 frequencies are too few to fit
    assert any("at least" in n for n in s["notes"])


def test_specific_force_needs_a_ratio_for_unlisted_muscles():
    spec = SessionSpec(fs=2_000.0, twitches=1, ff_freqs=(100,), noise_sd=0.0)
    rec, truth = session_recording(spec, muscle="quadriceps", muscle_mass_mg=900.0,
                                   muscle_length_mm=30.0)
    s = analyze_recording(rec).summary
    assert math.isnan(s["specific_force_N_per_cm2"])
    assert any("fibre-length ratio" in n for n in s["notes"])
    s = analyze_recording(rec, AnalysisConfig(fibre_length_ratio=0.5)).summary
    sf, csa = specific_force_n_per_cm2(truth["po"], 900.0, 30.0, 0.5)
    assert s["specific_force_N_per_cm2"] == pytest.approx(sf, rel=0.01)
    assert s["csa_mm2"] == pytest.approx(csa, rel=1e-9)


def test_missing_specific_force_inputs_name_the_annotate_command_for_each():
    spec = SessionSpec(fs=2_000.0, twitches=1, ff_freqs=(100,), noise_sd=0.0)
    rec, _ = session_recording(spec, muscle="EDL", species="rat")
    note = next(n for n in analyze_recording(rec).summary["notes"] if "specific force" in n)
    assert "missing muscle_mass_mg, muscle_length_mm" in note
    assert "add them with 'myoforce annotate FILE muscle_mass_mg=... muscle_length_mm=...'" in note
    rec, _ = session_recording(spec, muscle="EDL", muscle_length_mm=30.0, species="rat")
    note = next(n for n in analyze_recording(rec).summary["notes"] if "specific force" in n)
    assert note.endswith("add it with 'myoforce annotate FILE muscle_mass_mg=...'")


def test_specific_force_formula_by_hand():
    # 300 mN, 10 mg, 12 mm, ratio 0.71: CSA = 0.010 g / (1.2 cm * 0.71 * 1.06) cm²
    sf, csa = specific_force_n_per_cm2(300.0, 10.0, 12.0, 0.71)
    csa_cm2 = 0.010 / (1.2 * 0.71 * 1.06)
    assert csa == pytest.approx(csa_cm2 * 100)
    assert sf == pytest.approx(0.3 / csa_cm2)


@pytest.mark.parametrize("name,canon", [("EDL", "edl"), ("Extensor digitorum longus (left)", "edl"),
                                        ("m. soleus", "soleus"), ("SOL", "soleus"),
                                        ("Tibialis anterior", "tibialis anterior"),
                                        ("quadriceps", None), (None, None)])
def test_muscle_names(name, canon):
    assert canonical_muscle(name) == canon
    assert (fibre_length_ratio(name, "rat") is None) == (canon is None)


def test_trials_from_pulses_groups_trains_and_keeps_last_window():
    fs = 10_000.0
    twitch = np.array([5_000])
    train = 20_000 + np.round(np.arange(22) * fs / 275).astype(np.int64)
    stim = np.concatenate([twitch, train])
    trials = trials_from_pulses(stim, fs, 21_000)
    assert [t.kind for t in trials] == ["twitch", "tetanus"]
    assert trials[1].frequency_hz == pytest.approx(275, rel=0.002)
    assert trials[1].stop_sample == 21_000                     # recording end, not end - pre
    assert trials[0].stop_sample == 5_000 + 5_000               # post window
    assert train_frequency(np.delete(train, 5), fs) == pytest.approx(trials[1].frequency_hz)


def test_summary_is_json_ready_and_incomplete_recordings_are_noted():
    import json
    spec = SessionSpec(fs=2_000.0, twitches=1, ff_freqs=(50, 100), noise_sd=0.0)
    rec, _ = session_recording(spec)
    rec.complete = False
    res = analyze_recording(rec)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert set(d) == {"file", "format", "metadata", "trials", "summary"}
    assert d["summary"]["fatigue_index"] is None
    assert any("incomplete" in n for n in d["summary"]["notes"])
    keys = {"index", "kind", "step", "status", "stim_time_s", "frequency_hz", "pulses",
            "current_mA", "length_mm", "baseline_mN", "peak_force_mN", "time_to_peak_ms",
            "half_relaxation_ms", "rise_time_10_90_ms", "latency_ms", "max_dfdt_mN_per_s",
            "min_dfdt_mN_per_s", "force_time_integral_mN_s", "fusion_index", "error"}
    assert keys <= set(d["trials"][0])


def test_a_refused_first_tetanus_still_ends_the_pre_tetanus_twitches():
    """Before: with Protocol 1's first tetanus refused (a damaged block), the 'first
    tetanus' became the next measured one, and the potentiated twitch just before it
    (+21 % in the simulated EDL) was reported as the session Pt."""
    from app.analysis.results import TrialResult
    from app.analysis.session import summarize

    def trial(i, kind, step, t, peak, error=None):
        return TrialResult(index=i, kind=kind, step=step, stim_time_s=t, peak_force_mN=peak,
                           time_to_peak_ms=16.0, half_relaxation_ms=14.0, error=error)

    results = [trial(0, "twitch", "twitches", 1.0, 590.0),
               trial(1, "twitch", "twitches", 1.5, 594.0),
               trial(2, "tetanus", "tetani", 3.0, math.nan, error="damaged data"),
               trial(3, "twitch", "force-frequency", 5.0, 718.0),          # potentiated
               trial(4, "tetanus", "force-frequency", 6.0, 2200.0)]
    s = summarize(results, {}, AnalysisConfig())
    assert s.pt_trials == [0, 1] and s.pt_mN == pytest.approx(592.0)
    assert s.ptp_trial == 3 and s.ptp_ratio == pytest.approx(718.0 / 592.0)
