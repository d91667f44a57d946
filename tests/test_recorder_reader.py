"""Reading session files back: Recording, info, and clear errors for anything else."""
from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pytest

from app.errors import FileFormatError
from app.recorder import load_recording, open_session, session_info
from app.recorder.checked_force import CheckedForce
from app.recording import Recording
from tests.helpers_recording import write_synthetic_session


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return write_synthetic_session(tmp_path_factory.mktemp("r") / "s.h5", gaps=[(5000, 250)])


def test_load_recording_from_the_trial_table(session):
    rec = load_recording(session.path)
    assert isinstance(rec, Recording)
    assert rec.format == "myoforce-h5" and rec.complete
    assert rec.sample_rate_hz == session.sample_rate_hz
    assert isinstance(rec.force_mN, CheckedForce)               # checked on every read,
    assert isinstance(rec.force_mN.source, h5py.Dataset)       # read lazily
    assert rec.samples == session.force_mN.size
    np.testing.assert_array_equal(rec.force_mN[2000:2200], session.force_mN[2000:2200])
    np.testing.assert_array_equal(rec.stim_samples, session.pulses)
    assert [t.kind for t in rec.trials] == ["twitch", "twitch", "tetanus"]
    for t, r in zip(rec.trials, session.trials):
        assert (t.start_sample, t.stop_sample, t.step) == (r.start_sample, r.stop_sample, r.step)
        assert t.first_stim_sample == r.first_pulse_sample
    assert rec.trials[2].pulses == 20 and rec.trials[2].frequency_hz == 100.0
    assert rec.trials[0].frequency_hz is None and rec.trials[0].length_mm == 30.0
    assert rec.metadata["subject_id"] == "rat-7" and rec.metadata["muscle"] == "EDL"
    # the twitch peaks A at tp after its pulse: the stored data is the true shape
    t0 = rec.trials[0]
    seg = np.asarray(rec.force_mN[t0.start_sample:t0.stop_sample])
    peak = int(np.nanargmax(seg)) + t0.start_sample
    assert peak - t0.first_stim_sample == round(session.tp_s * rec.sample_rate_hz)
    assert abs(float(np.nanmax(seg)) - session.amplitude_mN) < 0.01


def test_load_recording_eager(session):
    rec = load_recording(session.path, lazy=False)
    assert isinstance(rec.force_mN.source, np.ndarray)
    np.testing.assert_array_equal(rec.force_mN, session.force_mN)


def test_without_trial_rows_trials_come_from_pulses(tmp_path):
    s = write_synthetic_session(tmp_path / "nt.h5", with_trials=False)
    rec = load_recording(s.path)
    assert [t.kind for t in rec.trials] == ["twitch", "twitch", "tetanus"]
    assert rec.trials[2].pulses == 20
    assert rec.trials[2].frequency_hz == pytest.approx(100.0)


def test_session_file_exposes_everything(session):
    with open_session(session.path) as sf:
        assert sf.format_version == "1.2" and sf.complete and sf.status == "complete"
        assert sf.samples == session.force_mN.size
        assert [(g.sample, g.count, g.cause) for g in sf.gaps] == [(5000, 250, "stream-gap")]
        np.testing.assert_array_equal(sf.pulse_samples, session.pulses)
        assert len(sf.trials) == 3 and len(sf.trial_records) == 3
        assert sf.devices["stimulator"].startswith("Agilent")
        assert sf.protocol == {"name": "test", "steps": [{"twitch": {"current_mA": 2.0}}]}
        assert sf.protocol_text.startswith("name: test")
        assert sf.end_time_utc > sf.start_time_utc
        assert sf.samples_on_disk() == sf.samples
        assert sf.rig["isolator"]["gain_mA_per_V"] == 1.0


def test_session_info(session):
    info = session_info(session.path)
    assert info["format_version"] == "1.2" and info["complete"] is True
    assert info["samples"] == session.force_mN.size
    assert info["duration_s"] == pytest.approx(session.force_mN.size / 10_000.0)
    assert info["trials"] == 3 and info["pulses"] == session.pulses.size
    assert info["gaps"] == [{"sample": 5000, "count": 250, "cause": "stream-gap"}]
    assert info["gap_samples"] == 250 and info["lost_samples"] == 0
    assert info["metadata"]["body_mass_g"] == 312.5


# ---------------------------------------------------------------- files that are not sessions
def _bad_files(tmp_path, session):
    text = tmp_path / "notes.h5"
    text.write_text("this is not HDF5\n")
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(10)
    truncated = tmp_path / "truncated.h5"
    shutil.copy(session.path, truncated)
    os.truncate(truncated, truncated.stat().st_size // 2)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    newer = tmp_path / "newer.h5"
    shutil.copy(session.path, newer)
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = "2.0"
    return {"text": text, "empty": empty, "foreign": foreign, "truncated": truncated,
            "garbage": garbage, "newer": newer, "missing": tmp_path / "nope.h5",
            "directory": tmp_path}


@pytest.mark.parametrize("kind,words", [
    ("text", "not an HDF5 file"), ("empty", "empty file"),
    ("foreign", "not a myoforce session file"), ("truncated", "truncated"),
    ("garbage", "damaged"), ("newer", "newer"), ("missing", "no such file"),
    ("directory", "directory")])
def test_bad_files_give_one_clear_line(tmp_path, session, kind, words):
    path = _bad_files(tmp_path, session)[kind]
    for fn in (open_session, load_recording, session_info):
        with pytest.raises(FileFormatError) as exc:
            fn(path)
        msg = str(exc.value)
        assert words in msg and str(path) in msg and "\n" not in msg, msg
