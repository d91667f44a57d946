"""Nothing damaged is measured (issue 9, item 3).

Damage is made on real session files (written by the recorder): random byte flips in
the stored force and flags, tampered attributes, impossible trial rows, raw data
rewritten with the wrong dtype. For every case the analysis either gives exactly the
intact file's numbers or refuses (a per-trial error naming the damage, or the whole
file with one line); ``verify`` names the problem.
"""
from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from app.analysis.session import analyze_recording
from app.errors import FileFormatError
from app.importers import load_recording
from app.recorder import layout as L
from app.recorder import verify_session
from app.recorder.checked_force import CheckedForce
from app.recorder.integrity import DamagedDataError
from tests.helpers_recording import write_synthetic_session

#: two checksummed blocks: [0, 5000) holds twitch 0, [5250, end) twitch 1 and the tetanus
GAP = (5000, 250)
FIELDS = ("peak_force_mN", "time_to_peak_ms", "half_relaxation_ms", "baseline_mN",
          "frequency_hz", "pulses")


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    s = write_synthetic_session(tmp_path_factory.mktemp("intact") / "s.h5", gaps=[GAP])
    result = analyze_recording(load_recording(s.path))
    assert all(t.error is None for t in result.trials)
    return s, result


def _copy(intact, tmp_path, name="d.h5"):
    dst = tmp_path / name
    shutil.copyfile(intact[0].path, dst)
    return dst


def _values(trial):
    return tuple(json.dumps(getattr(trial, f)) for f in FIELDS)


def _assert_matches_or_refuses(path, intact_result):
    """The analysis of ``path``: each trial equals the intact one or carries an error;
    returns the indices of the refused trials (None if the whole file was refused)."""
    try:
        result = analyze_recording(load_recording(path))
    except FileFormatError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return None
    refused = []
    for got, want in zip(result.trials, intact_result.trials, strict=True):
        if got.error is not None:
            refused.append(got.index)
        else:
            assert _values(got) == _values(want), f"trial {got.index} measured damaged data"
    return refused


def _force_offset(path, sample: int) -> int:
    """File offset of the float32 of ``sample`` in /force (chunks are stored raw)."""
    with h5py.File(path, "r") as f:
        ds = f[L.FORCE]
        chunk = L.FORCE_CHUNK
        info = ds.id.get_chunk_info_by_coord((sample // chunk * chunk,))
        return info.byte_offset + 4 * (sample % chunk)


def _flip(path, offset: int, mask: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([b ^ mask]))


def test_random_byte_flips_in_force_never_become_numbers(intact, tmp_path):
    session, result = intact
    rng = np.random.default_rng(2026)
    n = session.force_mN.size
    refusals = 0
    for k in range(25):
        path = _copy(intact, tmp_path, f"flip{k}.h5")
        sample = int(rng.integers(0, n))
        if GAP[0] <= sample < GAP[0] + GAP[1]:
            sample = GAP[0] - 1 - k
        _flip(path, _force_offset(path, sample) + int(rng.integers(0, 4)),
              1 << int(rng.integers(0, 8)))
        refused = _assert_matches_or_refuses(path, result)
        assert refused, "a flipped byte in a trial's block must refuse that trial"
        refusals += 1
        # only the trials on the damaged block are refused
        block_of_trial = [0 if t.start_sample < GAP[0] else 1 for t in session.trials]
        damaged_block = 0 if sample < GAP[0] else 1
        assert refused == [i for i, b in enumerate(block_of_trial) if b == damaged_block]
        assert not verify_session(path).ok
    assert refusals == 25


def test_refused_trial_says_why(intact, tmp_path):
    path = _copy(intact, tmp_path)
    _flip(path, _force_offset(path, 7000), 0x40)        # twitch 1's block
    result = analyze_recording(load_recording(path))
    errors = {t.index: t.error for t in result.trials}
    assert errors[0] is None
    assert "CRC-32" in errors[1] and "5250.." in errors[1] and "not measured" in errors[1]
    assert "CRC-32" in errors[2]
    assert result.summary["error"] is None      # twitch 0 was measured


def test_a_flipped_flag_refuses_the_trial(intact, tmp_path):
    path = _copy(intact, tmp_path)
    with h5py.File(path, "r") as f:
        info = f[L.FLAGS].id.get_chunk_info_by_coord((0,))
    _flip(path, info.byte_offset + 2000, 0x01)        # twitch 0's pulse marker
    refused = _assert_matches_or_refuses(path, intact[1])
    assert refused == [0]


def test_eager_load_refuses_the_same_trials(intact, tmp_path):
    from app.recorder.reader import load_recording as load_h5
    path = _copy(intact, tmp_path)
    _flip(path, _force_offset(path, 100), 0x01)
    rec = load_h5(path, lazy=False)
    assert isinstance(rec.force_mN, CheckedForce)
    with pytest.raises(DamagedDataError, match="block 0"):
        rec.force_mN[90:110]
    np.testing.assert_array_equal(rec.force_mN[6000:6010], intact[0].force_mN[6000:6010])
    result = analyze_recording(rec)
    assert [t.index for t in result.trials if t.error] == [0]


def _tamper(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


@pytest.mark.parametrize("what,fn,message", [
    ("sample rate", lambda f: f.attrs.modify("sample_rate_hz", 100_000.0),
     "sample_rate_hz = 100000 but the /force attribute sample_rate_hz says 10000"),
    ("both rate attributes",
     lambda f: (f.attrs.modify("sample_rate_hz", 1000.0),
                f[L.FORCE].attrs.modify("sample_rate_hz", 1000.0)),
     "'recording started' audit entry says 10000"),
    ("rate not a number", lambda f: f.attrs.modify("sample_rate_hz", float("nan")),
     "sample_rate_hz = nan"),
    ("stop_sample 2**62", lambda f: f[f"{L.TRIALS}/stop_sample"].__setitem__(1, 2 ** 62),
     "trial row 1 has the window"),
    ("negative start", lambda f: f[f"{L.TRIALS}/start_sample"].__setitem__(0, -5),
     "trial row 0 has the window -5.."),
    ("first pulse outside", lambda f: f[f"{L.TRIALS}/first_pulse_sample"].__setitem__(0, 10),
     "first pulse at sample 10"),
    ("pulses out of order", lambda f: f[L.PULSES].__setitem__(0, 10 ** 6),
     "/pulses"),
])
def test_damaged_metadata_refuses_the_file_in_one_line(intact, tmp_path, what, fn, message):
    path = _copy(intact, tmp_path)
    _tamper(path, fn)
    with pytest.raises(FileFormatError) as err:
        analyze_recording(load_recording(path))
    text = str(err.value)
    assert "\n" not in text and str(path) in text and message in text, text
    try:
        problems = verify_session(path).problems
    except FileFormatError as exc:       # cannot even be opened as a session
        problems = [str(exc)]
    assert any(message in p for p in problems), problems


def test_force_rewritten_as_int16_is_refused(intact, tmp_path):
    path = _copy(intact, tmp_path)

    def rewrite(f):
        data = np.nan_to_num(f[L.FORCE][()]).astype(np.int16)
        attrs = dict(f[L.FORCE].attrs)
        del f[L.FORCE]
        ds = f.create_dataset(L.FORCE, data=data, maxshape=(None,), chunks=True)
        ds.attrs.update(attrs)
    _tamper(path, rewrite)
    with pytest.raises(FileFormatError, match="/force is 1-D int16; the format stores 1-D float32"):
        load_recording(path)
    assert any("int16" in p for p in verify_session(path).problems)


def test_missing_checksum_rows_refuse_what_they_covered(intact, tmp_path):
    path = _copy(intact, tmp_path)

    def drop_last_row(f):
        for c in L.TABLES[L.INTEGRITY]:
            ds = f[f"{L.INTEGRITY}/{c.name}"]
            ds.resize((ds.shape[0] - 1,))
    _tamper(path, drop_last_row)
    result = analyze_recording(load_recording(path))
    refused = {t.index: t.error for t in result.trials if t.error}
    assert sorted(refused) == [1, 2] and "no checksum" in refused[1]


def test_trial_cut_off_by_a_recording_that_stopped_early_is_refused_alone(intact, tmp_path):
    """A recording stopped by a disk-space problem keeps the rows of trials made after
    its data ended: those trials are refused, the others measured; verify notes them."""
    path = _copy(intact, tmp_path)
    n = intact[0].force_mN.size

    def stop_early(f):
        f.attrs.modify("status", np.asarray(b"failed", dtype=L.STATUS_DTYPE))
        f[f"{L.TRIALS}/stop_sample"][2] = n + 4000
    _tamper(path, stop_early)
    result = analyze_recording(load_recording(path))
    errors = {t.index: t.error for t in result.trials}
    assert errors[0] is None and errors[1] is None
    assert "stopped early" in errors[2]
    report = verify_session(path)
    assert report.ok and any("runs past the recorded data" in x for x in report.notes)


def test_numbers_in_a_logged_gap_are_refused(intact, tmp_path):
    path = _copy(intact, tmp_path)
    _tamper(path, lambda f: f[L.FORCE].__setitem__(GAP[0] + 7, 12.5))
    rec = load_recording(path)
    with pytest.raises(DamagedDataError, match="logged gap 5000..5250 holds numbers"):
        rec.force_mN[4990:5300]
    np.testing.assert_array_equal(rec.force_mN[100:200], intact[0].force_mN[100:200])
    assert any("holds numbers" in p for p in verify_session(path).problems)


def test_display_shows_damaged_samples_as_a_gap(intact, tmp_path):
    """Replay draws a damaged file: the damaged block as NaN, the rest as recorded."""
    from app.live.decimate import MinMaxPyramid
    from app.live.playback import Playback
    from app.live.ring_buffer import RingBuffer
    from app.recording import DisplayForce, display_samples
    path = _copy(intact, tmp_path)
    _flip(path, _force_offset(path, 7000), 0x40)          # block 1: samples 5250..end
    rec = load_recording(path)
    want = intact[0].force_mN
    shown = display_samples(rec.force_mN, 4000, 8000)
    np.testing.assert_array_equal(shown[:1000], want[4000:5000])
    assert np.isnan(shown[1250:]).all()
    pyramid = MinMaxPyramid(DisplayForce(rec.force_mN))   # the overview builds
    assert pyramid.n == rec.samples
    ring = RingBuffer.for_duration(5.0, rec.sample_rate_hz)
    play = Playback(rec, ring, prefill_s=1.0)
    play.seek(9000)                                       # plays across both blocks
    snap = ring.read_last(0.9)                            # samples 0..9000
    assert snap.first_sample == 0 and snap.force_mN.size == 9000
    assert np.isnan(snap.force_mN[5250:]).all()           # block 1: a gap on screen
    np.testing.assert_array_equal(snap.force_mN[:5000], want[:5000])   # block 0 as recorded
    with pytest.raises(DamagedDataError):                 # analysis still refuses it
        rec.force_mN[7000:7100]


def test_figures_of_a_damaged_file_show_the_damage_as_a_gap(intact, tmp_path):
    from app.plots import plot_session
    path = _copy(intact, tmp_path)
    _flip(path, _force_offset(path, 7000), 0x40)
    rec = load_recording(path)
    result = analyze_recording(rec)
    written = plot_session(rec, result, tmp_path / "fig")
    assert len([p for p in written if "_trial" in p.name]) == 3
    assert all(p.stat().st_size > 0 for p in written)
