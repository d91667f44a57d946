"""Every lost sample accounted for, at START and STOP too (issue 9, item 5).

The recorder learns the stream's edges from the amplifier's notices: 'started' (the
stream began while recording, so samples missing before the first block were lost by the
device, not sent before the recording) and 'stopped' (the device's sequence count at
STOP: the file is made exactly that long). First with notices made by hand, then through
the real stack with the simulated amplifier dropping samples at both edges.
"""
from __future__ import annotations

import numpy as np
import pytest

from app.recorder import open_session, verify_session
from app.recorder import layout as L
from drivers.amplifier.driver import SerialForceAmplifier
from drivers.capabilities import StreamNotice
from sim_devices.amplifier_device import SimAmplifierDevice
from sim_devices.world import SimWorld
from tests.helpers_recording import open_recorder, ramp_block

RATE = 10_000


def _gaps(path):
    with open_session(path) as sf:
        return [(g.sample, g.count, g.cause) for g in sf.gaps], sf.samples


def test_loss_right_after_start_is_a_stream_gap(tmp_path):
    rec = open_recorder(tmp_path / "a.h5", RATE)
    rec.put_notice(StreamNotice("started", "stream started", sample=0))
    rec.put_block(ramp_block(300, 700, RATE))
    rec.put_notice(StreamNotice("stopped", "stream stopped after 1000 samples", 1000, 1000))
    rec.close()
    gaps, n = _gaps(tmp_path / "a.h5")
    assert gaps == [(0, 300, L.CAUSE_STREAM_GAP)] and n == 1000
    assert verify_session(tmp_path / "a.h5").ok


def test_without_a_started_notice_the_missing_head_is_before_recording(tmp_path):
    """Recording opened on a stream already running: the head was never offered."""
    rec = open_recorder(tmp_path / "b.h5", RATE)
    rec.put_block(ramp_block(300, 700, RATE))
    rec.close()
    assert _gaps(tmp_path / "b.h5") == ([(0, 300, L.CAUSE_BEFORE_RECORDING)], 1000)


def test_loss_just_before_stop_gets_its_gap_row_and_nans(tmp_path):
    path = tmp_path / "c.h5"
    rec = open_recorder(path, RATE)
    rec.put_notice(StreamNotice("started", "stream started", sample=0))
    rec.put_block(ramp_block(0, 1000, RATE))
    rec.put_notice(StreamNotice("stopped", "stream stopped after 3484 samples", 3484, 3484))
    rec.close()
    gaps, n = _gaps(path)
    assert gaps == [(1000, 2484, L.CAUSE_STREAM_GAP)] and n == 3484
    with open_session(path) as sf:
        assert np.isnan(sf.force[1000:]).all() and not np.isnan(sf.force[:1000]).any()
        assert int(sf.h5.attrs["samples"]) == 3484
    assert verify_session(path).ok


def test_a_stopped_notice_after_close_changes_nothing(tmp_path):
    path = tmp_path / "d.h5"
    rec = open_recorder(path, RATE)
    rec.put_block(ramp_block(0, 1000, RATE))
    rec.close()
    rec.put_notice(StreamNotice("stopped", "late", 5000, 5000))
    assert _gaps(path) == ([], 1000)


# ------------------------------------------------------------- through the real stack
@pytest.fixture
def device():
    dev = SimAmplifierDevice(SimWorld(), seed=3)
    dev.start()
    yield dev
    dev.close()


def _record(device, path, *, head: int, tail: int):
    """Record a short stream from the simulated amplifier, the device dropping ``head``
    samples right after START and ``tail`` samples just before STOP."""
    amp = SerialForceAmplifier.open(device.port, timeout_s=1.0)
    ends = []
    try:
        amp.configure(RATE)
        rec = open_recorder(path, RATE)
        amp.subscribe(rec.put_block)
        amp.subscribe_notices(rec.put_notice)
        amp.subscribe_notices(lambda n: ends.append(n.sample) if n.kind == "stopped" else None)
        if head:
            device.drop_samples(head)     # applied to the first samples the stream makes
        amp.start()
        amp.collect(0.3)
        if tail:
            device.drop_samples(tail)     # taken at the device's next production step
        amp.stop()
        rec.close()
        return amp.stats, ends[-1]
    finally:
        amp.close()


@pytest.mark.parametrize("head,tail", [(2484, 0), (0, 2484), (1234, 2484)])
def test_sim_amplifier_loss_at_the_edges_matches_the_driver_count(tmp_path, device, head, tail):
    path = tmp_path / f"edge-{head}-{tail}.h5"
    stats, end = _record(device, path, head=head, tail=tail)
    assert stats.lost_samples == head + tail
    with open_session(path) as sf:
        gaps = sf.gaps
        force = np.asarray(sf.force[:])
        assert sf.samples == end                          # the device's sequence count
        assert sum(g.count for g in gaps) == stats.lost_samples
        assert int(np.isnan(force).sum()) == stats.lost_samples
        assert all(g.cause == L.CAUSE_STREAM_GAP for g in gaps)
        if head:
            assert gaps[0].sample == 0 and gaps[0].count == head
        for g in gaps:
            assert np.isnan(force[g.sample:g.end]).all()
    assert verify_session(path).ok
