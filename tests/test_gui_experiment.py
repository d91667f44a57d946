"""The Qt-free experiment model behind acquire mode (app.live.experiment), with fakes."""
from __future__ import annotations

import time

import pytest

from app.errors import UserError
from app.live.experiment import BorrowedRig, Experiment, Status
from app.live.experiment_events import (MonitorChanged, RigConnected, SessionEnded,
                                        SessionStarted, StopPressed)
from app.metadata import SessionMetadata
from protocols.loader import parse_protocol
from tests.gui_fakes import FakeSession, fake_rig

#: a protocol the run plan accepts (the fake session runs its own trials)
TINY = parse_protocol("name: tiny\ncurrent_mA: 1\nsteps:\n  - {kind: twitch, count: 1, interval_s: 1}\n",
                      source="tiny.yaml")


def wait_for(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_borrowed_rig_close_only_switches_output_off():
    rig = fake_rig()
    rig.stimulator.fire()
    lent = BorrowedRig.of(rig)
    lent.close()
    assert rig.stimulator.aborts == 1 and not rig.stimulator.output
    # the devices are still usable: nothing was closed
    rig.amplifier.start()
    assert rig.amplifier.streaming
    rig.amplifier.stop()


def test_session_lifecycle_events_and_stop(tmp_path):
    exp = Experiment(ring_seconds=5)
    events = []
    exp.subscribe(events.append)
    with pytest.raises(UserError):
        exp.start(TINY, tmp_path / "x.h5", SessionMetadata())
    rig = exp.attach(fake_rig())
    exp.start_monitor()
    assert rig.amplifier.streaming and exp.monitoring
    assert wait_for(lambda: exp.ring.end_sample > 100)
    session = exp.start(TINY, tmp_path / "run.h5", SessionMetadata(subject_id="r1"),
                        session_factory=FakeSession, prompt=False)
    assert isinstance(session.rig, BorrowedRig) and session.rig.amplifier is rig.amplifier
    with pytest.raises(UserError):
        exp.start(TINY, tmp_path / "again.h5", SessionMetadata(), session_factory=FakeSession)
    with pytest.raises(UserError):
        exp.tare()
    assert wait_for(lambda: any(type(e).__name__ == "TrialAnalysed" for e in events))
    exp.stop()
    assert exp.wait(10)
    names = [type(e).__name__ for e in events]
    kinds = [e.kind for e in events if isinstance(e, Status)]
    assert kinds[:2] == ["connected", "monitor"] and "session-started" in kinds
    types = {type(e) for e in events if isinstance(e, Status)}    # typed: one class per kind
    assert {RigConnected, MonitorChanged, SessionStarted, StopPressed, SessionEnded} <= types
    assert kinds[-1] == "session-ended" and "stop" in kinds
    assert names.index("Finished") < len(names) - 1
    assert exp.last_status == "aborted" and not exp.running
    assert rig.stimulator.aborts >= 1 and not rig.stimulator.output
    exp.close()
    assert not exp.connected


def test_auto_continue_answers_prompts_the_runner_did_not(tmp_path):
    exp = Experiment(ring_seconds=5)
    exp.attach(fake_rig())
    session = exp.start(TINY, tmp_path / "auto.h5", SessionMetadata(), auto_continue=True,
                        session_factory=FakeSession, trials=1)
    assert exp.wait(15)
    assert session._answers == {"len": 32.0}        # the prompt's default
    assert exp.last_status == "completed"
    exp.close()


def test_tare_and_calibrate_with_a_known_mass():
    exp = Experiment(ring_seconds=5)
    rig = exp.attach(fake_rig())
    cal = exp.tare()
    assert cal.offset_counts == 123.0
    rig.amplifier.level = 490.3325                # 50 g hanging at the old scale... reads 490 mN
    exp.start_monitor()
    assert wait_for(lambda: exp.ring.end_sample > 2000)
    new = exp.calibrate_with_mass(100.0, seconds=1.0, wait=lambda s: None)
    # the sine averages out over 1 s: 100 g should read 980.665 mN, it read 490.33
    assert new.scale_mN_per_count == pytest.approx(0.02, rel=0.02)
    assert rig.amplifier.calibration == new and rig.amplifier.streaming
    with pytest.raises(UserError):
        exp.calibrate_with_mass(0.0)
    exp.close()


def test_listeners_are_the_one_subscriber_type():
    """A listener that raises is counted, never stops the others; unsubscribing works."""
    exp = Experiment(ring_seconds=1)
    got = []
    exp.subscribe(lambda ev: 1 / 0)
    unsubscribe = exp.subscribe(got.append)
    rig = exp.attach(fake_rig())
    assert [type(e) for e in got] == [RigConnected] and got[0].detail is rig
    assert exp._listeners.errors == 1
    unsubscribe()
    exp.close()
    assert len(got) == 1
