"""Aurora DMC .ddf import on fixtures in the exact DMC layout (tests/fixtures)."""
import math
from pathlib import Path

import numpy as np
import pytest

from app.errors import FileFormatError
from app.importers import load_recording
from app.importers.ddf import load_ddf, parse_protocol
from tests.fixtures import make_fixtures as mf

FIX = Path(mf.__file__).parent


@pytest.mark.parametrize("name", sorted(mf.SPECS))
def test_fixtures_are_what_the_generator_writes(name):
    assert (FIX / name).read_text(encoding="latin-1") == mf.ddf_text(name)


def volts_column(path, column):
    """Independent reading of one column of the data table (not via the importer)."""
    lines = path.read_text(encoding="latin-1").splitlines()
    i = lines.index("Test Data in Volts:")
    head = lines[i + 2].split("\t")
    rows = [l.split("\t") for l in lines[i + 3:] if l.strip()]
    return np.array([float(r[head.index(column)]) for r in rows])


@pytest.mark.parametrize("name", sorted(mf.SPECS))
def test_scale_offset_and_stim_edges(name):
    spec = mf.SPECS[name]
    rec = load_recording(FIX / name)
    assert rec.format == "aurora-ddf" and rec.sample_rate_hz == mf.FS
    v = volts_column(FIX / name, "AI1")[:-1]             # last row: DMC's zero artifact
    assert rec.samples == v.size == round(spec["duration_s"] * mf.FS)
    np.testing.assert_allclose(rec.force_mN, (v + mf.OFFSET[1]) * mf.SCALE[1], atol=1e-9)
    np.testing.assert_allclose(rec.force_mN, mf.force_mN(spec), atol=2e-4)   # 6-decimal volts
    np.testing.assert_array_equal(rec.stim_samples, mf.marker_samples(spec))
    assert rec.metadata["force_scale_mN_per_V"] == mf.SCALE[1]
    assert rec.metadata["force_offset_V"] == mf.OFFSET[1]


def test_twitch_protocol():
    rec = load_recording(FIX / "dmc_twitch.ddf")
    (t,) = rec.trials
    assert t.kind == "twitch" and t.step == "Stimulus-Twitch" and t.pulse_width_ms == 0.2
    p = rec.metadata["protocol"][0]
    assert p["action"] == "Stimulus-Twitch" and p["delay_s"] == 0.1
    assert rec.metadata["protocol"][1]["action"] == "Stop"
    assert rec.metadata["protocol"][1]["time_s"] == pytest.approx(0.25)


def test_tetanus_protocol_frequency_and_pulses():
    spec = mf.SPECS["dmc_tetanus.ddf"]
    rec = load_recording(FIX / "dmc_tetanus.ddf")
    (t,) = rec.trials
    assert t.kind == "tetanus" and t.pulses == spec["pulses"]
    assert t.frequency_hz == spec["freq_hz"] and t.step == "Stimulus-Tetanus"
    p = rec.metadata["protocol"][0]
    assert (p["delay_s"], p["frequency_hz"], p["pulse_width_ms"], p["duration_s"]) == \
        (0.1, 100.0, 0.2, 0.1)


def test_train_protocol_groups_each_train():
    spec = mf.SPECS["dmc_train.ddf"]
    rec = load_recording(FIX / "dmc_train.ddf")
    assert len(rec.trials) == spec["trains"]
    assert all(t.pulses == spec["pulses"] and t.frequency_hz == spec["freq_hz"]
               for t in rec.trials)
    p = rec.metadata["protocol"][0]
    assert p["pulses"] == 4 and p["train_rate_hz"] == 20.0
    assert rec.metadata["experiment"] == "workloop"
    assert rec.metadata["protocol"][1]["time_s"] == pytest.approx(0.01)   # sequential waits


def test_analysis_of_fixture_twitch():
    from app.analysis import analyze_recording
    spec = mf.SPECS["dmc_twitch.ddf"]
    r = analyze_recording(load_recording(FIX / "dmc_twitch.ddf")).trials[0]
    assert r.peak_force_mN == pytest.approx(spec["pt_mN"], rel=0.01)
    assert r.baseline_mN == pytest.approx(spec["baseline_mN"], abs=0.01)
    # TPT from the Stim marker, which DMC sets one sample after the nominal pulse
    tpt = (spec["latency_s"] + spec["tpt_s"]) * 1000 - 1000 / mf.FS
    assert abs(r.time_to_peak_ms - tpt) <= 0.5


def test_crlf_and_units_in_newtons(tmp_path):
    text = mf.ddf_text("dmc_twitch.ddf").replace("\tmN\tTTL", "\tN\tTTL", 1)
    p = tmp_path / "crlf.ddf"
    p.write_bytes(text.replace("\n", "\r\n").encode("latin-1"))
    rec = load_ddf(p)
    np.testing.assert_allclose(rec.force_mN, mf.force_mN(mf.SPECS["dmc_twitch.ddf"]) * 1000,
                               atol=0.2)


@pytest.mark.parametrize("mutate,message", [
    (lambda t: t.replace("DMCv5.3 Data File", "Some other file"), "not an Aurora DMC"),
    (lambda t: t.replace("Sample Frequency (Hz): 2000", "Sample Frequency (Hz): abc"),
     "Sample Frequency"),
    (lambda t: t.split("Test Data in Volts:")[0], "Test Data"),
    (lambda t: t.replace("\tStim\n", "\tTrig\n"), "Stim"),
    (lambda t: t.replace("\n5\t", "\n5x\t", 1), "non-numeric"),
    (lambda t: t.replace("\tmN\tTTL", "\tV\tTTL", 1), "not a force unit"),
    (lambda t: "\n".join(l for l in t.split("\n") if not l.startswith("7\t")),
     "not consecutive"),
])
def test_damaged_files_give_clear_errors(tmp_path, mutate, message):
    p = tmp_path / "bad.ddf"
    p.write_text(mutate(mf.ddf_text("dmc_twitch.ddf")), encoding="latin-1")
    with pytest.raises(FileFormatError) as err:
        load_recording(p)
    assert message in str(err.value) and str(p) in str(err.value)


def test_parse_protocol_keeps_unknown_actions():
    rows = ["0.5\tStimulus-Twitch\tStimulator\t.1,.2\t", "0.25\tSine Wave\tLength Out\t28,3,6\t"]
    p = parse_protocol(rows)
    assert [x["time_s"] for x in p] == [0.5, 0.75]
    assert p[1]["action"] == "Sine Wave" and p[1]["params"] == [28.0, 3.0, 6.0]
    assert "delay_s" not in p[1] and p[0]["pulse_width_ms"] == 0.2
    assert math.isnan(parse_protocol(["x\tStop\t\t\t"])[0]["wait_s"])
