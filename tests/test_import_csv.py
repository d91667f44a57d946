"""CSV import (time_s, force_mN, stim) and the load_recording dispatcher."""
from pathlib import Path

import numpy as np
import pytest

from app.errors import FileFormatError
from app.importers import detect_format, load_recording
from tests.fixtures import make_fixtures as mf

FIX = Path(mf.__file__).parent


def test_fixture_is_what_the_generator_writes():
    assert (FIX / "twitch.csv").read_text(encoding="utf-8") == mf.csv_text()


def test_csv_fixture_loads_with_metadata_and_edges():
    s = mf.CSV_SPEC
    rec = load_recording(FIX / "twitch.csv")
    assert rec.format == "csv" and rec.sample_rate_hz == pytest.approx(s["fs"])
    assert rec.samples == round(s["duration_s"] * s["fs"])
    np.testing.assert_array_equal(rec.stim_samples, [round(s["stim_s"] * s["fs"])])
    md = rec.metadata
    assert md["group"] == "vehicle" and md["muscle"] == "EDL" and md["subject_id"] == "R12"
    assert md["muscle_mass_mg"] == 160.0 and isinstance(md["muscle_mass_mg"], float)
    assert md["operator"] == "fixture" and "species" not in md   # no invented defaults
    assert len(rec.trials) == 1 and rec.trials[0].kind == "twitch"


def test_csv_analysis_matches_the_generating_model():
    from app.analysis import analyze_recording
    s = mf.CSV_SPEC
    r = analyze_recording(load_recording(FIX / "twitch.csv")).trials[0]
    assert r.peak_force_mN == pytest.approx(s["pt_mN"], rel=0.01)
    assert abs(r.time_to_peak_ms - (s["latency_s"] + s["tpt_s"]) * 1000) <= 1.0


def write(tmp_path, text, name="x.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_columns_in_any_order_extra_columns_and_nan_force(tmp_path):
    rows = ["stim,note,force_mN,time_s"]
    rows += [f"{int(i == 50)},a,{'nan' if i == 70 else 1.0},{i / 1000:.3f}" for i in range(200)]
    rec = load_recording(write(tmp_path, "\n".join(rows)))
    assert rec.stim_samples.tolist() == [50]
    assert np.isnan(rec.force_mN[70]) and rec.sample_rate_hz == pytest.approx(1000.0)


@pytest.mark.parametrize("text,message", [
    ("", "empty CSV"),
    ("time_s,force\n0,1\n", "missing column(s) force_mN, stim"),
    ("time_s,force_mN,stim\n0,1,0\n", "fewer than 2"),
    ("time_s,force_mN,stim\n0,1,0\n0.001,abc,0\n0.002,1,0\n", "line 3, column force_mN: 'abc'"),
    ("time_s,force_mN,stim\n0,1,0\n0.001,,0\n0.002,1,0\n", "line 3, column force_mN"),
    ("time_s,force_mN,stim\n0,1,0\n0.001,1,nan\n0.002,1,0\n", "stim is not a finite number at line 3"),
    ("time_s,force_mN,stim\n0,1,0\nnan,1,0\n0.002,1,0\n", "time_s is not a finite number"),
    ("time_s,force_mN,stim\n0,1,0\n0.001,1,2\n0.002,1,0\n", "stim must be 0 or 1 (line 3"),
    ("time_s,force_mN,stim\n0,1,0\n0.001,1,0\n0.0005,1,0\n0.003,1,0\n", "does not increase at line 4"),
    ("time_s,force_mN,stim\n0,1,0\n0.001,1,0\n0.003,1,0\n0.004,1,0\n", "uneven time steps"),
    ("time_s,force_mN,stim\n0,inf,0\n0.001,1,0\n0.002,1,0\n", "infinite at line 2"),
    ("time_s,force_mN,stim\n0,nan,0\n0.001,nan,0\n0.002,nan,0\n", "no values"),
    ("# muscle_mass_mg: -3\ntime_s,force_mN,stim\n0,1,0\n0.001,1,0\n0.002,1,0\n",
     "muscle_mass_mg"),
])
def test_bad_csv_files(tmp_path, text, message):
    p = write(tmp_path, text)
    with pytest.raises(FileFormatError) as err:
        load_recording(p)
    assert message in str(err.value) and str(p) in str(err.value)


def test_dispatch_by_content_and_extension(tmp_path):
    assert detect_format(FIX / "dmc_twitch.ddf") == "aurora-ddf"
    copy = tmp_path / "renamed.txt"                       # content wins over extension
    copy.write_bytes((FIX / "dmc_twitch.ddf").read_bytes())
    assert detect_format(copy) == "aurora-ddf"
    assert detect_format(FIX / "twitch.csv") == "csv"
    h5 = tmp_path / "fake.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert detect_format(h5) == "myoforce-h5"


@pytest.mark.parametrize("name,content,message", [
    ("notes.txt", b"hello", "unknown file type '.txt'"),
    ("noext", b"hello", "unknown file type '(no extension)'"),
    ("bad.h5", b"not hdf5", "not an HDF5 file"),
    ("bad.ddf", b"time,force\n", "not an Aurora DMC"),
])
def test_unknown_or_mislabelled_files(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(FileFormatError) as err:
        load_recording(p)
    assert message in str(err.value) and str(p) in str(err.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        load_recording(tmp_path / "nope.csv")
    with pytest.raises(FileFormatError, match="directory"):
        load_recording(tmp_path)


def test_h5_session_round_trip(tmp_path):
    """A session written by app.recorder loads through load_recording and analyses."""
    pytest.importorskip("app.recorder.writer")
    from app.analysis import analyze_recording
    from tests.synthetic import SessionSpec, session_recording, write_h5
    spec = SessionSpec(fs=2_000.0, twitches=2, ff_freqs=(50, 100), with_trials=True,
                       noise_sd=0.0)
    rec, truth = session_recording(spec)
    path = tmp_path / "s.h5"
    write_h5(rec, path, group="treated", muscle="soleus", muscle_mass_mg=120.0,
             muscle_length_mm=25.0, species="rat")
    loaded = load_recording(path)
    assert loaded.format == "myoforce-h5" and loaded.metadata["group"] == "treated"
    assert [t.step for t in loaded.trials] == [t.step for t in rec.trials]
    res = analyze_recording(loaded)
    assert res.summary["pt_mN"] == pytest.approx(truth["pt"], rel=0.01)
    assert res.summary["po_mN"] == pytest.approx(truth["po"], rel=0.01)
    assert res.summary["fibre_length_ratio"] == 0.71
