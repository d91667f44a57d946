"""The analysis on real Aurora DMC recordings (workloopR example data), when present.

Only physiologically sane ranges are asserted, plus agreement with the published
workloopR reading of the same twitch (isometric_timing(): peak 412.45 mN at 0.1141 s,
stimulus 0.1002 s, 50 % relaxation 0.1311 s, in its 1-based time base).
"""
from pathlib import Path

import pytest

from app.analysis import analyze_recording
from app.importers import load_recording

#: ../shared/data/aurora-ddf beside the project root (CI checks it out there)
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "aurora-ddf"
pytestmark = pytest.mark.skipif(not (DATA / "twitch.ddf").exists(),
                                reason="real DMC example files not available")


def test_real_twitch():
    res = analyze_recording(load_recording(DATA / "twitch.ddf"))
    assert res.error is None and len(res.trials) == 1
    t = res.trials[0]
    assert t.error is None and t.kind == "twitch" and t.step == "Stimulus-Twitch"
    assert 100 < t.peak_force_mN < 400            # mN
    assert 200 < t.baseline_mN < 250              # passive tension (preload)
    assert 5 < t.time_to_peak_ms < 30
    assert 5 < t.half_relaxation_ms < 40
    assert 1 < t.latency_ms < 8
    assert t.rise_time_10_90_ms < t.time_to_peak_ms
    # same file read by workloopR: peak 412.45 mN (raw), TPT 13.9 ms, 50 % at +17.0 ms
    assert t.baseline_mN + t.peak_force_mN == pytest.approx(412.45, abs=1.5)
    assert t.time_to_peak_ms == pytest.approx(13.9, abs=0.6)
    assert t.half_relaxation_ms == pytest.approx(17.0, abs=0.6)


#: values given by the analysis when flags were introduced (issue 10); every later
#: change must reproduce them within 0.5 %
TODAY = {
    "twitch": {"baseline_mN": 223.3565, "peak_force_mN": 187.9960, "time_to_peak_ms": 14.2731,
               "half_relaxation_ms": 16.8352, "rise_time_10_90_ms": 5.81495,
               "latency_ms": 3.54666, "max_dfdt_mN_per_s": 36373.26,
               "min_dfdt_mN_per_s": -7414.948, "force_time_integral_mN_s": 5.43851},
    "tetanus": {"baseline_mN": 141.2100, "peak_force_mN": 2484.573, "time_to_peak_ms": 36.2,
                "half_relaxation_ms": 21.72036, "rise_time_10_90_ms": 18.48543,
                "latency_ms": 5.761216, "max_dfdt_mN_per_s": 133060.36,
                "min_dfdt_mN_per_s": -31191.16, "force_time_integral_mN_s": 119.3743,
                "fusion_index": 0.967365},
}


@pytest.mark.parametrize("name", sorted(TODAY))
def test_real_files_keep_their_values(name):
    t = analyze_recording(load_recording(DATA / f"{name}.ddf")).trials[0]
    for key, value in TODAY[name].items():
        assert getattr(t, key) == pytest.approx(value, rel=0.005), key


def test_real_tetanus():
    res = analyze_recording(load_recording(DATA / "tetanus.ddf"))
    assert res.error is None and len(res.trials) == 1
    t = res.trials[0]
    assert t.error is None and t.kind == "tetanus"
    assert t.frequency_hz == 275 and t.pulses == 22     # protocol: 275 Hz, 0.081 s
    assert 1000 < t.peak_force_mN < 4000
    assert 0 < t.fusion_index <= 1
    assert 5 < t.half_relaxation_ms < 100
    assert res.summary["po_mN"] == t.peak_force_mN


def test_real_workloop_is_flagged():
    res = analyze_recording(load_recording(DATA / "workloop.ddf"))
    assert res.metadata.get("experiment") == "workloop"
    assert len(res.trials) == 6 and all(t.pulses == 4 for t in res.trials)
    assert any("work-loop" in n for n in res.summary["notes"])
