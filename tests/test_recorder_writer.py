"""SessionRecorder: what goes in comes out, losses are logged, failures are loud."""
from __future__ import annotations

import errno
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import UserError
from app.recorder import (RecorderNotice, RecordingExistsError, SessionRecorder, TrialRecord,
                          load_recording, open_session, recover_session, verify_session)
from app.recorder import layout as L
from drivers.capabilities import FLAG_TRIGGER_EDGE, SampleBlock
from tests.helpers_recording import (CALIBRATION, DEVICES, PROTOCOL, PROTOCOL_TEXT, RIG,
                                     expected_pulses, open_recorder, periodic_flags, ramp_block,
                                     ramp_blocks, ramp_force)

RATE = 10_000.0
REPO = Path(__file__).resolve().parents[1]


def wait_for(cond, timeout: float = 10.0) -> None:
    """Wait for a condition (not a timing assertion: the limit only stops a hang)."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def test_round_trip_identical(tmp_path):
    path = tmp_path / "s.h5"
    total = 25_000
    rec = open_recorder(path, RATE)
    for b in ramp_blocks(total, 100, RATE):
        rec.put_block(b)
    rec.add_trial(TrialRecord(index=0, kind="twitch", start_sample=0, stop_sample=2500,
                              first_pulse_sample=100, pulses=1, current_mA=2.0,
                              pulse_width_ms=0.2, step="twitch"))
    rec.log("stimulator-command", "OUTP ON")
    rec.log("operator", "note", length_mm=31.5, who="test")
    rec.close()
    assert rec.samples_written == total and rec.lost_samples == 0 and rec.failed is None

    with h5py.File(path, "r") as f:          # a closed file opens without SWMR
        assert f.attrs["format"] == "myoforce-session"
        assert f.attrs["format_version"] == L.FORMAT_VERSION
        assert f.attrs["complete"] == 1 and f.attrs["status"] == b"complete"
        assert f.attrs["samples"] == total and f.attrs["pulses"] == 10
        np.testing.assert_array_equal(f["force"][:], ramp_force(0, total))
        np.testing.assert_array_equal(f["flags"][:], periodic_flags(0, total))
        np.testing.assert_array_equal(f["pulses"][:], expected_pulses(total))
        assert f["force"].dtype == np.float32 and f["flags"].dtype == np.uint8
        assert f["force"].attrs["units"] == "mN"
        assert f["force"].attrs["calibration_scale_mN_per_count"] == CALIBRATION.scale_mN_per_count
        assert f["force"].compression is None and f["force"].chunks is not None
        missing = []
        f.visititems(lambda n, o: missing.append(n) if isinstance(o, h5py.Dataset)
                     and "units" not in o.attrs else None)
        assert missing == []
        assert json.loads(f["rig"].attrs["json"]) == RIG
        assert f["rig"].attrs["isolator.gain_mA_per_V"] == 1.0
        assert dict(f["devices"].attrs) == DEVICES
        assert f["protocol/yaml"].asstr()[()] == PROTOCOL_TEXT
        assert json.loads(f["protocol/json"].asstr()[()]) == PROTOCOL
        assert f["session"].attrs["subject_id"] == "rat-7"
        assert "strain" not in f["session"].attrs      # unknown stays absent

    with open_session(path) as sf:
        audit = sf.audit
        kinds = [a.kind for a in audit]
        assert kinds[0] == "recorder" and kinds[-1] == "recorder"
        cmd = next(a for a in audit if a.kind == "stimulator-command")
        assert cmd.message == "OUTP ON" and cmd.sample == total
        op = next(a for a in audit if a.kind == "operator")
        assert json.loads(op.fields) == {"length_mm": 31.5, "who": "test"}
        assert sf.metadata["body_mass_g"] == 312.5
        assert sf.calibration == CALIBRATION
    report = verify_session(path)
    assert report.ok, report.problems
    assert report.samples_checked == total


def test_gaps_are_nan_and_logged_with_cause(tmp_path):
    path = tmp_path / "g.h5"
    total = 12_000
    skip = [(0, 200), (1000, 300), (5000, 1), (7400, 2600)]   # 7500: a pulse lost in a gap
    rec = open_recorder(path, RATE)
    for b in ramp_blocks(total, 100, RATE, skip=skip):
        rec.put_block(b)
    rec.close()
    with open_session(path) as sf:
        force, flags = sf.force[:], sf.flags[:]
        assert sf.samples == total
        assert [(g.sample, g.count) for g in sf.gaps] == skip
        assert [g.cause for g in sf.gaps] == ["before-recording"] + ["stream-gap"] * 3
        expected = ramp_force(0, total)
        mask = np.ones(total, bool)
        for a, c in skip:
            mask[a:a + c] = False
            assert np.isnan(force[a:a + c]).all() and not flags[a:a + c].any()
        np.testing.assert_array_equal(force[mask], expected[mask])
        pulses = expected_pulses(total)
        np.testing.assert_array_equal(sf.pulse_samples, pulses[mask[pulses]])
        assert 7600 not in sf.pulse_samples
    assert verify_session(path).ok


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 700), min_size=1, max_size=25), data=st.data())
def test_pulses_at_exact_indices_for_any_block_split(tmp_path_factory, sizes, data):
    total = sum(sizes)
    edges = data.draw(st.lists(st.integers(0, total - 1), unique=True, max_size=30))
    flags = np.zeros(total, np.uint8)
    flags[edges] = FLAG_TRIGGER_EDGE | 0x02
    force = np.arange(total, dtype=np.float32)
    path = tmp_path_factory.mktemp("p") / "p.h5"
    rec = open_recorder(path, RATE, flush_interval_s=0.01)
    pos = 0
    for n in sizes:
        rec.put_block(SampleBlock(pos, force[pos:pos + n], flags[pos:pos + n], RATE))
        pos += n
    rec.close()
    with open_session(path) as sf:
        np.testing.assert_array_equal(sf.pulse_samples, np.sort(np.array(edges, np.int64)))
        np.testing.assert_array_equal(sf.force[:], force)
    assert verify_session(path).ok


def test_existing_file_is_never_truncated(tmp_path):
    path = tmp_path / "old.h5"
    path.write_bytes(b"precious recording")
    with pytest.raises(RecordingExistsError) as exc:
        SessionRecorder(path)
    assert isinstance(exc.value, UserError) and isinstance(exc.value, FileExistsError)
    assert str(path) in str(exc.value) and "overwrite" in str(exc.value)
    assert path.read_bytes() == b"precious recording"

    # created between construction and open: still refused, still intact
    late = tmp_path / "late.h5"
    rec = SessionRecorder(late)
    late.write_bytes(b"someone else's")
    with pytest.raises(RecordingExistsError):
        rec.open(sample_rate_hz=RATE, calibration=CALIBRATION, metadata={}, rig={}, devices={},
                 software_version="t")
    assert late.read_bytes() == b"someone else's"

    rec = open_recorder(path, RATE, overwrite=True)
    rec.put_block(ramp_block(0, 10, RATE))
    rec.close()
    with open_session(path) as sf:
        assert sf.samples == 10 and sf.complete


def _blocked_recorder(path, notices, queue_size=2):
    """A recorder whose writer stalls on its first block until ``release`` is set."""
    rec = open_recorder(path, RATE, queue_size=queue_size, on_notice=notices.append)
    entered, release = threading.Event(), threading.Event()
    original = rec._writer.accept_batch

    def stalled(blocks):
        if not entered.is_set():
            entered.set()
            release.wait(20)
        original(blocks)

    rec._writer.accept_batch = stalled
    return rec, entered, release


def test_queue_full_is_reported_at_once_and_logged_as_gap(tmp_path):
    path = tmp_path / "q.h5"
    notices: list[RecorderNotice] = []
    rec, entered, release = _blocked_recorder(path, notices)
    rec.put_block(ramp_block(0, 100, RATE))
    entered.wait(10)
    for k in range(1, 10):            # 1 and 2 fit in the queue; 3..9 are dropped
        rec.put_block(ramp_block(k * 100, 100, RATE))
    assert rec.lost_samples == 700
    losses = [n for n in notices if n.kind == "data-loss"]
    assert len(losses) == 1 and losses[0].sample == 300      # told before the writer resumed
    release.set()
    wait_for(lambda: not rec._inbox)
    rec.put_block(ramp_block(1000, 100, RATE))
    rec.close()
    assert rec.lost_samples == 700
    with open_session(path) as sf:
        assert [(g.sample, g.count, g.cause) for g in sf.gaps] == [(300, 700,
                                                                   "recorder-queue-full")]
        assert np.isnan(sf.force[300:1000]).all()
        np.testing.assert_array_equal(sf.force[:300], ramp_force(0, 300))
        np.testing.assert_array_equal(sf.force[1000:1100], ramp_force(1000, 100))
        assert any(a.kind == "data-loss" for a in sf.audit)
        assert int(sf.h5.attrs["lost_samples"]) == 700
    assert any(n.kind == "data-loss" and n.count == 700 for n in notices)   # writer's summary
    assert verify_session(path).ok


def test_queue_full_at_the_end_extends_the_file_with_nan(tmp_path):
    path = tmp_path / "qe.h5"
    notices: list[RecorderNotice] = []
    rec, entered, release = _blocked_recorder(path, notices)
    rec.put_block(ramp_block(0, 100, RATE))
    entered.wait(10)
    for k in range(1, 6):
        rec.put_block(ramp_block(k * 100, 100, RATE))
    release.set()
    rec.close()
    with open_session(path) as sf:
        assert sf.samples == 600
        assert [(g.sample, g.count, g.cause) for g in sf.gaps] == [(300, 300,
                                                                   "recorder-queue-full")]
        assert np.isnan(sf.force[300:]).all()
    assert verify_session(path).ok


def test_write_failure_is_reported_at_once_and_flushed_data_stays(tmp_path, monkeypatch):
    path = tmp_path / "enospc.h5"
    notices: list[RecorderNotice] = []
    failed = threading.Event()

    def on_notice(n):
        notices.append(n)
        if n.kind == "write-failed":
            failed.set()

    rec = open_recorder(path, RATE, flush_interval_s=0.02, on_notice=on_notice)
    for b in ramp_blocks(3000, 100, RATE):
        rec.put_block(b)
    wait_for(lambda: rec.samples_flushed == 3000)

    real_setitem = h5py.Dataset.__setitem__

    def disk_full(self, key, value):
        if self.name == "/force":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_setitem(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", disk_full)
    for b in ramp_blocks(6000, 100, RATE):
        if b.first_sample >= 3000:
            rec.put_block(b)
    assert failed.wait(10), "no write-failed notice"
    assert "No space left" in rec.failed
    rec.put_block(ramp_block(6000, 100, RATE))      # after the failure: counted, no exception
    rec.close()
    rec.close()                                     # twice is fine
    monkeypatch.undo()
    assert rec.lost_samples >= 100
    assert [n.kind for n in notices].count("write-failed") == 1
    with open_session(path) as sf:                  # what was flushed is readable
        assert not sf.complete
        assert sf.samples >= 3000
        np.testing.assert_array_equal(sf.force[:3000], ramp_force(0, 3000))
    report = verify_session(path)
    assert report.ok, report.problems


def _produce_until_failure(path: Path, min_free_bytes: int) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tests.helpers_recording", "produce", str(path), "--fast",
         "--seconds", "2000", "--flush", "0.05", "--fsize-limit", str(12_000_000),
         "--min-free-bytes", str(min_free_bytes)],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    # a crash here (e.g. -11) would mean HDF5 was closed unsafely after the failed write
    assert out.returncode == 0, out.stderr[-2000:]
    assert "notice write-failed" in out.stdout, out.stdout[-2000:]
    assert "failed=True" in out.stdout
    assert path.stat().st_size <= 12_000_000
    return out.stdout


def test_space_guard_stops_before_the_disk_is_full_and_closes_cleanly(tmp_path):
    """The recorder sees the file-size limit coming and closes the file from its reserve."""
    path = tmp_path / "guard.h5"
    stdout = _produce_until_failure(path, 64 << 20)
    assert "closed cleanly" in stdout
    with open_session(path) as sf:
        assert sf.complete and sf.status == "failed" and sf.samples > 0
        # the producer runs flat out: on a busy machine the queue may overflow before the
        # guard trips. Such samples are NaN and logged as gaps; every other one is exact.
        force, expected = sf.force[:], ramp_force(0, sf.samples)
        logged = np.zeros(sf.samples, dtype=bool)
        for gap in sf.gaps:
            logged[gap.sample:gap.sample + gap.count] = True
        np.testing.assert_array_equal(np.isnan(force), logged)
        np.testing.assert_array_equal(force[~logged], expected[~logged])
        assert any(a.kind == "write-failed" for a in sf.audit)
    assert verify_session(path).ok


def test_real_write_error_keeps_the_flushed_data(tmp_path):
    """A write the kernel refuses (EFBIG, guard off): no crash, flushed data intact."""
    path = tmp_path / "efbig.h5"
    stdout = _produce_until_failure(path, 0)
    flushed = int(re.search(r"last flush \(sample (\d+)\)", stdout).group(1))
    assert flushed > 0
    with open_session(path) as sf:
        assert not sf.complete
        assert sf.samples >= flushed
        np.testing.assert_array_equal(sf.force[:flushed], ramp_force(0, flushed))
    out = tmp_path / "efbig-recovered.h5"
    rep = recover_session(path, out)
    assert rep.samples >= flushed
    report = verify_session(out)
    assert report.ok, report.problems
    with open_session(out) as sf:
        np.testing.assert_array_equal(sf.force[:], ramp_force(0, sf.samples))


def test_low_disk_space_in_process(tmp_path, monkeypatch):
    path = tmp_path / "low.h5"
    notices: list[RecorderNotice] = []
    rec = open_recorder(path, RATE, flush_interval_s=0.02, on_notice=notices.append)
    for b in ramp_blocks(2000, 100, RATE):
        rec.put_block(b)
    wait_for(lambda: rec.samples_flushed == 2000)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda p: real(p)._replace(free=10 << 20))
    for b in ramp_blocks(3000, 100, RATE):
        if b.first_sample >= 2000:
            rec.put_block(b)
    wait_for(lambda: rec.failed is not None)
    rec.close()
    assert "disk almost full" in rec.failed
    assert [n.kind for n in notices] == ["write-failed"]
    with open_session(path) as sf:       # everything accepted before the stop is there
        assert sf.complete and sf.status == "failed"
        assert sf.samples == 3000 - rec.lost_samples
        np.testing.assert_array_equal(sf.force[:], ramp_force(0, sf.samples))
    assert verify_session(path).ok


def test_context_manager_aborts_on_exception_and_close_is_idempotent(tmp_path):
    path = tmp_path / "cm.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with open_recorder(path, RATE) as rec:
            rec.put_block(ramp_block(0, 500, RATE))
            raise RuntimeError("boom")
    rec.close()
    with open_session(path) as sf:
        assert sf.complete and sf.status == "aborted" and sf.samples == 500
    with pytest.raises(ValueError):
        rec.close("finished")


def test_close_from_notice_callback_does_not_deadlock(tmp_path):
    path = tmp_path / "cb.h5"
    holder: dict[str, SessionRecorder] = {}

    def on_notice(n):
        if n.kind == "stream-error":
            holder["rec"].close("aborted")       # on the writer thread

    rec = open_recorder(path, RATE, on_notice=on_notice)
    holder["rec"] = rec
    rec.put_block(ramp_block(0, 100, RATE))
    rec.put_block(SampleBlock(100, ramp_force(100, 10), periodic_flags(100, 10), 5000.0))
    rec._thread.join(10)
    assert not rec._thread.is_alive()
    rec.close()
    with open_session(path) as sf:
        assert sf.complete and sf.status == "aborted" and sf.samples == 100


def test_rejected_blocks_are_counted_and_logged(tmp_path):
    path = tmp_path / "rej.h5"
    notices: list[RecorderNotice] = []
    rec = open_recorder(path, RATE, on_notice=notices.append)
    rec.put_block(ramp_block(0, 200, RATE))
    rec.put_block(ramp_block(100, 50, RATE))                         # goes backwards
    rec.put_block(SampleBlock(200, ramp_force(200, 10), periodic_flags(200, 10), 1000.0))
    rec.put_block(ramp_block(200, 100, RATE))
    rec.close()
    assert rec.rejected_samples == 60
    assert [n.kind for n in notices] == ["stream-error", "stream-error"]
    with open_session(path) as sf:
        assert sf.samples == 300 and sf.gaps == []
        assert sum(a.kind == "stream-error" for a in sf.audit) == 2
        np.testing.assert_array_equal(sf.force[:], ramp_force(0, 300))


def test_trials_and_analysis_round_trip(tmp_path):
    path = tmp_path / "t.h5"
    rec = open_recorder(path, RATE)
    for b in ramp_blocks(10_000, 500, RATE):
        rec.put_block(b)
    r0 = TrialRecord(index=0, kind="twitch", start_sample=0, stop_sample=2000,
                     first_pulse_sample=100, pulses=1, current_mA=1.5, pulse_width_ms=0.2,
                     step="supramax", length_mm=29.0)
    r1 = TrialRecord(index=1, kind="tetanus", start_sample=2000, stop_sample=7000,
                     first_pulse_sample=2600, pulses=3, frequency_hz=150.0, status="aborted",
                     step="tetanus")
    rec.add_trial(r0)
    rec.add_trial(r1)
    rec.add_analysis("twitch", {"Pt_mN": 12.5, "TPT_ms": np.float64(15.0), "trace": np.arange(3)})
    rec.close()
    with open_session(path) as sf:
        assert _same_records(sf.trial_records, [r0, r1])
        t = sf.trials
        assert t[0].frequency_hz is None and t[0].length_mm == 29.0
        np.testing.assert_array_equal(t[0].stim_samples, [100])
        np.testing.assert_array_equal(t[1].stim_samples, [2600, 5100])
        assert t[1].status == "aborted" and t[1].current_mA is None
        assert sf.analysis[0]["name"] == "twitch"
        assert sf.analysis[0]["result"] == {"Pt_mN": 12.5, "TPT_ms": 15.0, "trace": [0, 1, 2]}
    rec2 = load_recording(path)
    assert [tr.kind for tr in rec2.trials] == ["twitch", "tetanus"]


def _same_records(a, b):
    """Records equal field by field, NaN equal to NaN (plain == can never hold with a NaN field)."""
    def key(r):
        return tuple("nan" if isinstance(v, float) and v != v else v for v in vars(r).values())
    return [key(r) for r in a] == [key(r) for r in b]


def test_trial_record_validates():
    with pytest.raises(ValueError):
        TrialRecord(index=0, kind="doublet", start_sample=0, stop_sample=1)
    with pytest.raises(ValueError):
        TrialRecord(index=0, kind="twitch", start_sample=5, stop_sample=1)
    with pytest.raises(ValueError):
        TrialRecord(index=0, kind="twitch", start_sample=0, stop_sample=1, status="done")


def test_blocks_before_open_and_after_close(tmp_path):
    path = tmp_path / "late.h5"
    notices: list[RecorderNotice] = []
    rec = SessionRecorder(path, on_notice=notices.append)
    rec.put_block(ramp_block(0, 100, RATE))         # before open: not part of the recording
    rec.open(sample_rate_hz=RATE, calibration=CALIBRATION, metadata={"subject_id": "x"},
             rig={}, devices={}, software_version="t")
    rec.put_block(ramp_block(100, 100, RATE))
    rec.close()
    rec.put_block(ramp_block(200, 100, RATE))       # after close: counted and reported
    assert rec.lost_samples == 100
    assert [n.kind for n in notices] == ["data-loss"]
    with open_session(path) as sf:
        assert [(g.sample, g.count, g.cause) for g in sf.gaps] == [(0, 100, "before-recording")]
        assert sf.samples == 200


def test_queue_is_bounded_and_put_never_blocks(tmp_path):
    path = tmp_path / "nb.h5"
    notices: list[RecorderNotice] = []
    rec, entered, release = _blocked_recorder(path, notices, queue_size=4)
    rec.put_block(ramp_block(0, 10, RATE))
    entered.wait(10)
    done = threading.Event()

    def producer():
        for k in range(1, 2001):
            rec.put_block(ramp_block(k * 10, 10, RATE))
        done.set()

    threading.Thread(target=producer).start()
    assert done.wait(30), "put_block blocked while the writer was stalled"
    assert len(rec._inbox) == 4
    release.set()
    rec.close()
    assert rec.lost_samples == (2000 - 4) * 10


def test_close_from_write_failed_notice_with_a_full_queue(tmp_path):
    """The runner may close the recorder from the write-failed notice (on the writer
    thread) while the queue is full: that must neither hang nor raise."""
    path = tmp_path / "wf.h5"
    holder: dict[str, SessionRecorder] = {}
    kinds: list[str] = []

    def on_notice(n):
        kinds.append(n.kind)
        if n.kind == "write-failed":
            holder["rec"].close("aborted")

    rec = open_recorder(path, RATE, queue_size=2, on_notice=on_notice)
    holder["rec"] = rec
    entered, release = threading.Event(), threading.Event()

    def broken(blocks):
        entered.set()
        release.wait(20)
        raise OSError(errno.EIO, "Input/output error")

    rec._writer.accept_batch = broken
    rec.put_block(ramp_block(0, 100, RATE))
    entered.wait(10)
    for k in range(1, 4):
        rec.put_block(ramp_block(k * 100, 100, RATE))
    assert len(rec._inbox) == 2
    release.set()
    rec._thread.join(20)
    assert not rec._thread.is_alive()
    rec.close()
    assert kinds[0] == "data-loss" and "write-failed" in kinds
    assert "Input/output error" in rec.failed
    with open_session(path) as sf:
        assert not sf.complete and sf.samples == 0
