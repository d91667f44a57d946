"""Tetanus measures on synthetic trains with known plateau, ripple and relaxation."""
import math

import numpy as np
import pytest

from app.analysis import AnalysisConfig, analyze_recording
from tests.synthetic import tetanus_trace


def analyse(tr, cfg=None):
    res = analyze_recording(tr.recording(), cfg)
    assert len(res.trials) == 1
    return res.trials[0]


@pytest.mark.parametrize("fs", [1_000.0, 2_000.0, 10_000.0, 20_000.0])
@pytest.mark.parametrize("freq,ripple", [(50, 120.0), (100, 40.0), (150, 8.0), (200, 0.0)])
@pytest.mark.parametrize("noise", [0.0, 1.0])
def test_po_fusion_and_relaxation(fs, freq, ripple, noise):
    tr = tetanus_trace(fs=fs, freq=freq, pulses=int(0.4 * freq), plateau=1500.0,
                       ripple=ripple, baseline=-80.0, noise_sd=noise, artifact_mN=4000.0,
                       seed=3)
    r = analyse(tr)
    T = tr.truth
    assert r.error is None and r.kind == "tetanus" and r.pulses == int(0.4 * freq)
    assert r.frequency_hz == pytest.approx(freq, rel=0.002)
    assert r.peak_force_mN == pytest.approx(T["po"], rel=0.01)
    assert r.baseline_mN == pytest.approx(-80.0, abs=0.5)
    # fusion: 1 - 2*ripple/Po; sampling a 50-200 Hz ripple at 1-2 kHz clips its extremes
    assert r.fusion_index == pytest.approx(T["fusion_index"], abs=0.01 if fs >= 10_000 else 0.02)
    assert abs(r.half_relaxation_ms - T["half_relaxation_ms"]) <= max(0.2, 1000.0 / fs)


def test_fusion_index_orders_unfused_to_fused():
    fi = [analyse(tetanus_trace(freq=f, pulses=40, plateau=1000.0, ripple=a)).fusion_index
          for f, a in ((20, 300.0), (50, 100.0), (100, 20.0), (200, 0.0))]
    assert fi == sorted(fi) and fi[0] < 0.6 and fi[-1] > 0.99


def test_moving_average_po_removes_the_ripple():
    """po_average_ms = one ripple period gives the plateau (mean), not plateau + ripple."""
    tr = tetanus_trace(fs=10_000.0, freq=50, pulses=25, plateau=1000.0, ripple=100.0)
    peak = analyse(tr).peak_force_mN
    mean = analyse(tr, AnalysisConfig(po_average_ms=20.0)).peak_force_mN
    assert peak == pytest.approx(tr.truth["po"], rel=0.01)
    assert mean == pytest.approx(1000.0, rel=0.01)


def test_fading_tetanus_relaxation_uses_end_of_train_force():
    """Force that fades during the train: ½RT is relative to the force at the end."""
    fs = 10_000.0
    tr = tetanus_trace(fs=fs, freq=100, pulses=30, plateau=1000.0)
    stim = tr.stim
    t = np.arange(tr.force.size) / fs
    fade = np.where(t > stim[0] / fs + 0.1, np.exp(-(t - stim[0] / fs - 0.1) / 0.1), 1.0)
    fade = np.where(t > stim[-1] / fs + 0.01, fade[int(stim[-1] + 0.01 * fs)], fade)
    tr.force = tr.force * fade
    r = analyse(tr)
    assert r.error is None and math.isfinite(r.half_relaxation_ms)
    assert any("faded" in n for n in r.notes)


def test_time_to_po_and_rise_on_a_fused_tetanus():
    tr = tetanus_trace(fs=10_000.0, freq=200, pulses=20, plateau=800.0, tau_rise_s=0.01)
    r = analyse(tr)
    # 10-90 % of an exponential rise (plateau reached): τ ln 9
    assert r.rise_time_10_90_ms == pytest.approx(10.0 * math.log(9.0), abs=0.3)
    assert 0 < r.time_to_peak_ms <= 100.0 + 5.0
    assert r.max_dfdt_mN_per_s > 0 > r.min_dfdt_mN_per_s


def test_unfused_low_frequency_train_has_positive_half_relaxation():
    """At 10 Hz each pulse's twitch relaxes before the next: ½RT is measured after the
    last pulse, never from an earlier twitch (which once gave a negative ½RT)."""
    import numpy as np

    from app.analysis import analyze_trial
    from app.recording import Recording, Trial

    fs = 10000.0
    t = np.arange(int(1.5 * fs)) / fs
    tp = 0.014
    stim = (0.2 + np.arange(3) * 0.1) * fs
    force = np.zeros_like(t)
    for s, amplitude in zip(stim, (600.0, 550.0, 500.0)):   # fading, as in the sim at 10 Hz
        dt = t - s / fs
        m = dt > 0
        force[m] += amplitude * (dt[m] / tp) * np.exp(1 - dt[m] / tp)
    stim_samples = stim.astype(np.int64)
    trial = Trial(index=0, kind="tetanus", start_sample=int(0.1 * fs), stop_sample=int(1.2 * fs),
                  stim_samples=stim_samples, frequency_hz=10.0)
    rec = Recording(source="synthetic", format="test", sample_rate_hz=fs, force_mN=force,
                    stim_samples=stim_samples, trials=[trial])
    result = analyze_trial(rec, trial).to_dict()
    # the last twitch peaks tp after the last pulse and halves ~1.68 tp later (alpha function)
    assert result["half_relaxation_ms"] > tp * 1000.0
    assert result["half_relaxation_ms"] < 5 * tp * 1000.0
