"""Checksums of auxiliary channels (format 1.2): a CRC-32 per channel per written block in
/integrity/crc_aux_<name>; damage in /aux is found by verify, refused by the reader, drawn
as a gap, carried by recover; a 1.1 file (no aux checksums) still reads, with a note."""
from __future__ import annotations

import shutil
import zlib

import h5py
import numpy as np
import pytest

from app.live.aux_ring import RecordingAux
from app.recorder import layout as L
from app.recorder.aux_integrity import CheckedAux
from app.recorder.integrity import DamagedDataError
from app.recorder.reader import load_recording, open_session, session_info
from app.recorder.recover import recover_session
from app.recorder.verify import verify_session
from tests.test_recorder_aux import _block, _record

#: 0..3000 and 4000..6000 with aux, 3000..4000 lost (a logged gap); small flushes are
#: not guaranteed, so the block rows are read from the file
BLOCKS = [(0, 3000), (4000, 2000)]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("auxcrc") / "a.h5"
    _record(path, [_block(a, n) for a, n in BLOCKS])
    return path


def _copy(src, tmp_path, name="d.h5"):
    dst = tmp_path / name
    shutil.copyfile(src, dst)
    return dst


def _aux_offset(path, name: str, sample: int) -> int:
    """File offset of the float32 of ``sample`` in /aux/<name> (chunks are stored raw)."""
    with h5py.File(path, "r") as f:
        info = f[L.AUX][name].id.get_chunk_info_by_coord(
            (sample // L.FORCE_CHUNK * L.FORCE_CHUNK,))
        return info.byte_offset + 4 * (sample % L.FORCE_CHUNK)


def _flip(path, offset: int, mask: int = 0x10) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([b ^ mask]))


def _block_of(path, sample: int) -> tuple[int, int, int]:
    """(row, start, end) of the /integrity block holding ``sample``."""
    with h5py.File(path, "r") as f:
        starts, counts = f["integrity/start"][:], f["integrity/count"][:]
    row = int(np.flatnonzero((starts <= sample) & (sample < starts + counts))[0])
    return row, int(starts[row]), int(starts[row] + counts[row])


def _make_1_1(path) -> None:
    """What a 1.1 writer made: the same file without the aux CRC columns."""
    with h5py.File(path, "r+") as f:
        for name in ("emg", "length"):
            del f[f"integrity/crc_aux_{name}"]
        f.attrs["format_version"] = "1.1"


def test_every_block_of_every_channel_has_its_crc_and_verifies(recorded):
    with h5py.File(recorded, "r") as f:
        assert f.attrs["format_version"] == "1.2"
        starts, counts = f["integrity/start"][:], f["integrity/count"][:]
        for name in ("emg", "length"):
            col = f[f"integrity/crc_aux_{name}"]
            assert col.dtype == np.dtype("<u4") and col.attrs["units"] == "none"
            assert col.shape == starts.shape
            data = f[f"aux/{name}"]
            for row, (a, c) in enumerate(zip(starts, counts)):
                want = zlib.crc32(data[a:a + c].astype("<f4").tobytes())
                assert int(col[row]) == want
    report = verify_session(recorded)
    assert report.ok, report.problems
    assert report.aux_checked == ["emg", "length"] and report.aux_unchecked == []
    assert "aux emg, length match their CRC-32" in report.summary()
    rec = load_recording(recorded)
    assert isinstance(rec.aux["emg"], CheckedAux)
    idx = np.arange(4000, 6000)
    np.testing.assert_array_equal(rec.aux["length"][4000:6000],
                                  (idx / 1000.0).astype(np.float32))
    assert session_info(recorded)["aux_unchecked"] == []


def test_a_flipped_aux_byte_is_found_named_and_refused(recorded, tmp_path):
    path = _copy(recorded, tmp_path)
    _flip(path, _aux_offset(path, "emg", 4500) + 2)
    row, a, b = _block_of(path, 4500)

    report = verify_session(path)
    assert not report.ok
    assert report.problems == [f"CRC mismatch in aux channel 'emg' of block {row}, samples "
                               f"{a}..{b}: raw data differs from what was written"]
    assert report.aux_checked == ["length"]

    for lazy in (True, False):
        rec = load_recording(path, lazy=lazy)
        with pytest.raises(DamagedDataError, match=rf"aux channel 'emg': samples {a}..{b} "
                                                   rf"\(block {row}\) fail their CRC-32"):
            rec.aux["emg"][4490:4510]
        with pytest.raises(DamagedDataError):
            np.asarray(rec.aux["emg"])
        # only the damaged channel's damaged block is refused
        np.testing.assert_array_equal(rec.aux["length"][4490:4510],
                                      (np.arange(4490, 4510) / 1000.0).astype(np.float32))
        np.testing.assert_array_equal(rec.force_mN[4490:4510],
                                      (np.arange(4490, 4510) * 0.5).astype(np.float32))
        if a > 0:
            assert np.isfinite(rec.aux["emg"][0:100]).all()

    drawn = RecordingAux(load_recording(path)).read(4400, 4600)
    assert np.isnan(drawn[0]).all()                 # emg: its damaged block as a gap
    assert np.isfinite(drawn[1]).all()              # length: intact


def test_recover_carries_aux_crcs_and_keeps_a_mismatch_visible(recorded, tmp_path):
    out = tmp_path / "r.h5"
    recover_session(recorded, out)
    report = verify_session(out)
    assert report.ok and report.aux_checked == ["emg", "length"], report.problems

    bad = _copy(recorded, tmp_path)
    _flip(bad, _aux_offset(bad, "length", 10))
    rep = recover_session(bad, tmp_path / "r2.h5")
    assert rep.aux_crc_mismatches == 1 and rep.crc_mismatches == 1
    problems = verify_session(tmp_path / "r2.h5").problems
    assert len(problems) == 1 and "aux channel 'length'" in problems[0]


def test_a_crashed_flush_without_its_aux_crc_row(recorded, tmp_path):
    """The writer died between the force CRCs and the aux CRC of its last flush: verify
    notes it, the reader refuses those aux samples as unchecked, recover computes them."""
    path = _copy(recorded, tmp_path)
    with h5py.File(path, "r+") as f:
        rows = f["integrity/start"].shape[0]
        f["integrity/crc_aux_emg"].resize((rows - 1,))
        f.attrs.modify("complete", np.uint8(0))
        f.attrs.modify("status", np.asarray(b"recording", dtype=L.STATUS_DTYPE))
    row, a, b = _block_of(path, 5999)
    report = verify_session(path)
    assert report.ok, report.problems
    assert any(f"block {row} (samples {a}..{b}) has no CRC-32 for aux channel 'emg'" in n
               for n in report.notes)
    rec = load_recording(path)
    with pytest.raises(DamagedDataError, match="aux channel 'emg': samples 5000..5010 have no "
                                               "checksum"):
        rec.aux["emg"][5000:5010]
    rec.aux["length"][5000:5010]                    # its column is whole
    rep = recover_session(path, tmp_path / "r.h5")
    assert any("aux checksums" in n and "computed at recovery" in n for n in rep.notes)
    assert verify_session(tmp_path / "r.h5").ok


def test_a_1_1_file_reads_with_its_aux_unchecked(recorded, tmp_path):
    path = _copy(recorded, tmp_path)
    _make_1_1(path)
    _flip(path, _aux_offset(path, "emg", 4500) + 2)   # undetectable: no checksum to break
    with open_session(path) as sf:
        assert sf.format_version == "1.1"
        assert any("emg, length are unchecked" in w and "format 1.1" in w for w in sf.warnings)
    report = verify_session(path)
    assert report.ok, report.problems
    assert report.aux_unchecked == ["emg", "length"] and report.aux_checked == []
    assert "unchecked" in report.summary()
    assert any("unchecked" in n for n in report.notes)
    rec = load_recording(path)
    assert rec.aux["emg"][4490:4510].shape == (20,)     # read as stored, never refused
    np.testing.assert_array_equal(np.asarray(load_recording(path, lazy=False).aux["length"]),
                                  np.asarray(rec.aux["length"][:]))
    info = session_info(path)
    assert info["aux_unchecked"] == ["emg", "length"]
    assert any("unchecked" in w for w in info["warnings"])
    # recover keeps it a 1.1 file rather than certifying what nobody checked
    out = tmp_path / "r.h5"
    rep = recover_session(path, out)
    assert any("unchecked" in n for n in rep.notes)
    with h5py.File(out, "r") as f:
        assert f.attrs["format_version"] == "1.1"
        assert not any(k.startswith(L.AUX_CRC_PREFIX) for k in f[L.INTEGRITY])
    assert verify_session(out).aux_unchecked == ["emg", "length"]


def test_a_1_2_file_missing_a_crc_column_is_damaged(recorded, tmp_path):
    path = _copy(recorded, tmp_path)
    with h5py.File(path, "r+") as f:
        del f["integrity/crc_aux_length"]
    report = verify_session(path)
    assert report.problems == ["/integrity/crc_aux_length is missing: aux channel 'length' "
                               "has no checksums in a format 1.2 file"]
    rec = load_recording(path)
    with pytest.raises(DamagedDataError, match="aux channel 'length': no checksum column"):
        rec.aux["length"][0:10]
    assert np.isnan(rec.aux["length"].masked(0, 10)).all()
    rec.aux["emg"][0:10]


def test_the_info_command_marks_unchecked_channels(recorded, tmp_path, capsys):
    from app.cli.main import main
    path = _copy(recorded, tmp_path)
    _make_1_1(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(unchecked: no checksums in this format)" in out
    assert "are unchecked" in out
