"""Session definitions (issue 10 item 3): Pt from the protocol's twitch step before the
first tetanus (mean ± SD), post-tetanic potentiation, f50 at 50 % of the fitted maximum,
the summary as a dataclass that still reads like the dict it replaced."""
import math

import numpy as np
import pytest

from app.analysis import AnalysisConfig, analyze_recording
from app.analysis.summary import SessionSummary
from app.recording import Recording, Trial
from tests.synthetic import GammaTwitch, tetanus_force


def protocol_session(fs=5_000.0, seed=0):
    """supramaximal search (small twitches), twitch step (3 at 200 mN, ±2 %), a tetanus,
    then a potentiated twitch (+25 %)."""
    rng = np.random.default_rng(seed)
    shape = GammaTwitch(0.015, 3.0)
    plan = [("supramaximal", 80.0), ("supramaximal", 150.0), ("supramaximal", 190.0),
            ("twitches", 196.0), ("twitches", 200.0), ("twitches", 204.0),
            ("tetani", None), ("recovery", 250.0)]
    n = int(len(plan) * 1.5 * fs)
    force = 20.0 + rng.normal(0, 0.2, n)
    trials, stims = [], []
    for i, (step, pt) in enumerate(plan):
        s = int((0.5 + 1.5 * i) * fs)
        t = (np.arange(n) - s) / fs - 0.0025
        if pt is None:
            stim = s + np.round(np.arange(30) * fs / 100).astype(np.int64)
            force += tetanus_force(t, plateau=900.0, ripple=0.0, freq=100, train_s=0.3)
            kind = "tetanus"
        else:
            stim = np.array([s])
            force += pt * shape(t)
            kind = "twitch"
        stims.append(stim)
        trials.append(Trial(index=i, kind=kind, start_sample=s - int(0.05 * fs),
                            stop_sample=s + int(0.8 * fs), stim_samples=stim, step=step,
                            frequency_hz=100.0 if pt is None else None))
    return Recording("p", "synthetic", fs, force, np.concatenate(stims), trials=trials)


def test_session_pt_is_the_twitch_step_before_the_first_tetanus():
    s = analyze_recording(protocol_session()).summary
    assert isinstance(s, SessionSummary)
    assert s.pt_n == 3 and s.pt_trials == [3, 4, 5] and "twitches" in s.pt_rule
    assert s.pt_mN == pytest.approx(200.0, rel=0.01)
    assert s.pt_sd_mN == pytest.approx(np.std([196, 200, 204], ddof=1), abs=1.0)
    assert s.tpt_ms == pytest.approx(17.5, abs=0.3) and s.tpt_sd_ms < 0.3
    assert s.ptp_ratio == pytest.approx(250.0 / 200.0, rel=0.02) and s.ptp_trial == 7
    assert s.contraction_time_ms < s.tpt_ms and s.rfd_10_90_mN_per_s > 0
    assert s.po_time_to_90pct_ms > 0
    # the dict view keeps older callers working
    assert s["pt_mN"] == s.pt_mN and s.get("nope", 1) == 1 and "po_mN" in s
    with pytest.raises(KeyError):
        s["nope"]


def test_without_step_names_the_plateau_of_the_twitches_before_the_tetanus():
    rec = protocol_session()
    for t in rec.trials:
        t.step = ""
    s = analyze_recording(rec).summary
    # 190, 196, 200, 204 are within 10 % of 204; 80 and 150 are not
    assert s.pt_trials == [2, 3, 4, 5]
    assert s.pt_mN == pytest.approx(np.mean([190, 196, 200, 204]), rel=0.01)
    old = analyze_recording(rec, AnalysisConfig(twitch_summary="max")).summary
    assert old.pt_mN == pytest.approx(250.0, rel=0.01)       # the potentiated twitch


def test_f50_is_half_of_the_fitted_maximum_not_the_midpoint():
    from app.analysis.force_frequency import fit_force_frequency, sigmoid
    f = np.array([1, 10, 20, 30, 50, 80, 100, 150, 200.0])
    y = sigmoid(f, 300.0, 1000.0, 40.0, 3.0)
    fit, _ = fit_force_frequency(f, y)
    assert fit.midpoint_hz == pytest.approx(40.0, rel=0.01)
    assert float(sigmoid(fit.f50_hz, 300.0, 1000.0, 40.0, 3.0)) == pytest.approx(500.0, rel=0.01)
    assert fit.f50_hz < fit.midpoint_hz
    fit2, note = fit_force_frequency(f, sigmoid(f, 600.0, 1000.0, 40.0, 3.0))
    assert math.isnan(fit2.f50_hz) and "50 %" in note


def test_fibre_length_ratio_per_muscle_option():
    cfg = AnalysisConfig(fibre_length_ratios="edl=0.4, soleus=0.68")
    assert cfg.fibre_ratio_overrides() == {"edl": 0.4, "soleus": 0.68}
    with pytest.raises(ValueError, match="biceps"):
        AnalysisConfig(fibre_length_ratios="biceps=0.5")
