"""Auxiliary channels in the session file (format 1.1): /aux/<name> beside /force, sample for
sample, NaN wherever force is NaN or a block had none; 1.0 files still open."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from app.recorder import SessionRecorder
from app.recorder import layout as L
from app.recorder.reader import load_recording, open_session, session_info
from app.recorder.recover import recover_session
from app.recorder.verify import verify_session
from drivers.capabilities import FLAG_TRIGGER_EDGE, Calibration, SampleBlock
from tests.helpers_recording import DEVICES, RIG

AUX = [{"name": "emg", "unit": "mV", "scale": 1000.0, "offset_V": 0.0, "channel": "Dev1/ai2",
        "range_V": 1.0, "terminal": "diff"},
       {"name": "length", "unit": "mm", "scale": 10.0, "offset_V": 0.5, "channel": "Dev1/ai3",
        "range_V": 10.0, "terminal": "diff"}]


def _block(first: int, n: int, aux: bool = True) -> SampleBlock:
    idx = np.arange(first, first + n)
    flags = np.zeros(n, dtype=np.uint8)
    flags[idx % 1000 == 0] = FLAG_TRIGGER_EDGE
    a = np.vstack([np.sin(idx / 50.0), idx / 1000.0]).astype(np.float32) if aux else None
    return SampleBlock(first, (idx * 0.5).astype(np.float32), flags, 10000.0, 0.0, a)


def _record(path, blocks, aux=AUX):
    rec = SessionRecorder(path, flush_interval_s=0.05, fsync=False, min_free_bytes=0)
    rec.open(sample_rate_hz=10000.0, calibration=Calibration(100.0, 0.0), metadata={},
             rig=RIG, devices=DEVICES, software_version="test", aux_channels=aux)
    for b in blocks:
        rec.put_block(b)
    rec.close()


def test_aux_channels_are_stored_beside_force(tmp_path):
    path = tmp_path / "aux.h5"
    # 0..3000 with aux; 3000..3500 a block without aux (NaN); 3500..4000 lost; 4000..6000
    _record(path, [_block(0, 1000), _block(1000, 2000), _block(3000, 500, aux=False),
                   _block(4000, 2000)])
    with open_session(path) as sf:
        assert sf.format_version == L.FORMAT_VERSION == "1.2"
        assert [c["name"] for c in sf.aux_channels] == ["emg", "length"]
        assert sf.aux_channels[1] == {"name": "length", "unit": "mm", "scale": 10.0,
                                      "offset_V": 0.5, "channel": "Dev1/ai3", "range_V": 10.0,
                                      "terminal": "diff"}
        force = sf.force[:]
        emg, length = sf.aux("emg")[:], sf.aux("length")[:]
        with pytest.raises(KeyError, match="no auxiliary channel 'temp'"):
            sf.aux("temp")
    assert force.size == emg.size == length.size == 6000
    idx = np.arange(6000)
    have = (idx < 3000) | (idx >= 4000)
    np.testing.assert_array_equal(length[have], (idx[have] / 1000.0).astype(np.float32))
    np.testing.assert_array_equal(emg[have], np.sin(idx[have] / 50.0).astype(np.float32))
    assert np.isnan(length[3000:4000]).all() and np.isnan(force[3500:4000]).all()
    assert not np.isnan(force[3000:3500]).any()      # force kept where only aux was missing
    rec = load_recording(path, lazy=False)
    assert set(rec.aux) == {"emg", "length"} and rec.aux_units == {"emg": "mV", "length": "mm"}
    np.testing.assert_array_equal(rec.aux["length"], length)
    info = session_info(path)
    assert [c["name"] for c in info["aux_channels"]] == ["emg", "length"]
    report = verify_session(path)
    assert report.ok, report.problems


def test_a_file_without_aux_reads_as_before_and_a_1_0_file_opens(tmp_path):
    path = tmp_path / "plain.h5"
    _record(path, [_block(0, 1000, aux=False)], aux=())
    with h5py.File(path, "r+") as f:
        assert L.AUX not in f
        f.attrs["format_version"] = "1.0"           # what every file before 1.1 says
    with open_session(path) as sf:
        assert sf.format_version == "1.0" and sf.aux_channels == []
    rec = load_recording(path)
    assert rec.aux == {} and rec.samples == 1000
    assert session_info(path)["aux_channels"] == []
    assert verify_session(path).ok


def test_verify_notices_an_aux_channel_of_the_wrong_length(tmp_path):
    path = tmp_path / "bad.h5"
    _record(path, [_block(0, 2000)])
    with h5py.File(path, "r+") as f:
        f["aux/emg"].resize((1500,))
    report = verify_session(path)
    assert not report.ok
    assert any("/aux/emg has 1500 samples but /force 2000" in p for p in report.problems)


def test_recover_keeps_the_aux_channels(tmp_path):
    path = tmp_path / "a.h5"
    _record(path, [_block(0, 3000)])
    out = tmp_path / "r.h5"
    recover_session(path, out)
    with open_session(out) as sf:
        assert [c["name"] for c in sf.aux_channels] == ["emg", "length"]
        np.testing.assert_array_equal(sf.aux("length")[:], (np.arange(3000) / 1000.0).astype(np.float32))
