"""The stimulators' fire-time interlock (drivers/fire_ledger.py): a fire that would break
a rule over time (rest after a train, interval between single pulses, mean rate, duty
cycle) is refused before a byte or a sample reaches the device, whoever calls the
driver; a correctly spaced sequence fires every stimulus; the rules are the same
functions the protocol validator uses, with the rig file's values.

The drivers run on a hand-moved clock, so no test depends on how fast the machine is."""
from __future__ import annotations

import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.metadata import SessionMetadata
from app.recorder.reader import session_info
from app.rig import start_sim_rig
from app.rig.config import parse_rig
from app.rig.connect import connect_rig
from app.session import ExperimentSession
from drivers.capabilities import StimulusSpec
from drivers.errors import DeviceTimeout, LimitError, TimelineLimitError
from drivers.fire_ledger import TOLERANCE_S, FireLedger
from drivers.limits import Scheduled, StimulusLimits
from protocols.loader import parse_protocol
from tests.test_stimulator_scpi import open_fake
from tests.test_stimulator_sim import ManualClock, rig  # noqa: F401  (the sim fixture)

pytestmark = pytest.mark.timeout(120)

TWITCH = StimulusSpec(2.0, 0.2)
TRAIN = StimulusSpec.train(2.0, 0.2, 100, 300)           # 30 pulses, 300 ms


# ----------------------------------------------------------------------- the rules

@settings(max_examples=300, deadline=None)
@given(gaps=st.lists(st.floats(0.0, 3.0, allow_nan=False), min_size=1, max_size=25),
       kinds=st.lists(st.sampled_from([TWITCH, TRAIN, StimulusSpec.train(2.0, 0.2, 50, 1000)]),
                      min_size=26, max_size=26))
def test_a_fire_is_refused_exactly_when_the_validator_would_refuse_the_schedule(gaps, kinds):
    """One place per rule: for a history the validator accepts, the interlock (without
    tolerance) refuses the next stimulus iff the validator refuses the longer schedule."""
    limits = StimulusLimits(max_mean_rate_hz=8.0, max_duty_cycle=0.3, rate_window_s=5.0)
    t, schedule = 0.0, []
    for k, gap in enumerate(gaps):
        schedule.append(Scheduled(t, kinds[k]))
        t = schedule[-1].start_s + gap
    history, candidate = schedule[:-1], schedule[-1]
    if limits.schedule_problems(history):
        return
    refused = bool(limits.fire_problems(history, candidate))
    assert refused == bool(limits.schedule_problems(schedule))


def test_the_tolerance_is_small_and_only_forgives_that_much():
    clock = ManualClock()
    ledger = FireLedger(StimulusLimits(), clock=clock)
    ledger.admit(TRAIN)
    end = clock.t + 0.3
    clock.t = end + 1.0 - TOLERANCE_S - 0.002               # rest 2 ms short of forgiven
    with pytest.raises(TimelineLimitError):
        ledger.admit(TWITCH)
    clock.t = end + 1.0 - TOLERANCE_S + 0.002
    ledger.admit(TWITCH)
    assert 0 < TOLERANCE_S <= 0.1


# ------------------------------------------------------------ SCPI driver, byte-exact

def _fired(stim, spec: StimulusSpec) -> None:
    stim.configure(spec)
    stim.fire()
    stim.set_output(False)


CASES = [  # (limits, stimuli before, gap before the refused one (s), refused, rule, value, limit)
    (StimulusLimits(), [TRAIN], 0.3 + 0.5, TWITCH, "rest_s", 0.5, 1.0),
    (StimulusLimits(), [TRAIN], 0.0, TRAIN, "rest_s", 0.0, 1.0),        # back to back
    (StimulusLimits(), [TWITCH], 0.03, TWITCH, "interval_s", 0.03, 0.1),
    (StimulusLimits(max_mean_rate_hz=0.5), [TWITCH] * 5, 0.2, TWITCH, "rate", 0.6, 0.5),
    (StimulusLimits(max_duty_cycle=0.3),
     [StimulusSpec.train(2.0, 0.2, 50, 1000)] * 3, 2.0, StimulusSpec.train(2.0, 0.2, 50, 1000),
     "duty_cycle", 0.4, 0.3),
]


@pytest.mark.parametrize("limits, before, gap, refused, rule, value, limit", CASES)
def test_a_refused_fire_sends_no_byte_and_names_the_rule_value_and_limit(
        limits, before, gap, refused, rule, value, limit):
    clock = ManualClock()
    stim, fake = open_fake(limits=limits, clock=clock)
    for k, spec in enumerate(before):
        if k:
            clock.t += before[k - 1].duration_ms / 1000.0 + (1.0 if before[k - 1].pulses > 1 else 0.2)
        _fired(stim, spec)
    clock.t += gap
    stim.configure(refused)                       # per stimulus: fine; output off
    sent, wire = list(fake.sent), fake.wire()
    with pytest.raises(TimelineLimitError) as info:
        stim.fire()
    assert fake.sent == sent and fake.wire() == wire and fake.urgent == []   # not one byte
    assert (info.value.rule, info.value.limit) == (rule, limit)
    assert info.value.value == pytest.approx(value)
    assert isinstance(info.value, LimitError)
    text = str(info.value)
    assert f"{limit:g}" in text and "\n" not in text
    last = {c: i for i, c in enumerate(fake.sent)}
    assert last["OUTP OFF"] > last["OUTP ON"]                # the output stays off


def test_a_refused_fire_stays_refused_until_the_rest_is_over_then_fires_byte_exact():
    clock = ManualClock()
    stim, fake = open_fake(clock=clock)
    _fired(stim, TRAIN)
    stim.configure(TWITCH)
    for _ in range(3):                             # a script hammering fire()
        clock.t += 0.2
        with pytest.raises(TimelineLimitError):
            stim.fire()
    clock.t += 0.7                                 # 1.3 s since its start: 1 s of rest
    n = len(fake.sent)
    stim.fire()
    assert fake.sent[n:] == ["OUTP ON", "*TRG", "*OPC?", "SYST:ERR?"]
    assert fake.sent.count("*TRG") == 2


def test_a_fire_that_failed_before_the_trigger_does_not_count():
    clock = ManualClock()
    stim, fake = open_fake(clock=clock)
    stim.configure(TRAIN)
    fake.fail["OUTP ON"] = DeviceTimeout("injected")   # the trigger was never sent
    with pytest.raises(DeviceTimeout, match="injected"):
        stim.fire()
    del fake.fail["OUTP ON"]
    stim.configure(TRAIN)
    stim.fire()                                    # not refused by a train that never was
    assert len(stim.fire_ledger.fires) == 1


# ------------------------------------------------------ the simulated stimulator (SCPI)

def test_a_direct_api_back_to_back_attack_on_the_sim_stimulator_is_refused(rig):  # noqa: F811
    world, server, clock, muscle, open_stim, _ = rig
    stim = open_stim(clock=clock)
    stim.train(3.0, 0.2, 100, 300)                 # the one legitimate train
    assert len(server.bursts) == 1
    refused = 0
    for _ in range(20):                            # then as fast as the API allows
        try:
            stim.train(3.0, 0.2, 100, 300)
        except TimelineLimitError as exc:
            refused += 1
            assert exc.rule == "rest_s"
            assert server.output_on is False       # configure switched it off; it stays off
    assert refused == 20
    assert len(server.bursts) == 1 and server.commands.count("*TRG") == 1
    for _ in range(5):
        with pytest.raises(TimelineLimitError, match="interval|rest"):
            stim.single_pulse(3.0, 0.2)
    assert server.commands.count("*TRG") == 1 and server.output_on is False


def test_a_correctly_spaced_sequence_fires_every_stimulus(rig):  # noqa: F811
    world, server, clock, muscle, open_stim, _ = rig
    stim = open_stim(clock=clock)
    steps = [(0.0, TWITCH), (0.1, TWITCH), (0.1, TRAIN), (0.3 + 1.0, TWITCH), (0.1, TRAIN),
             (0.3 + 1.0, TRAIN), (0.3 + 1.0, TWITCH)]
    for gap, spec in steps:
        clock.t += gap
        stim.configure(spec)
        stim.fire()
        stim.set_output(False)
    assert [b.pulses for b in server.bursts] == [s.pulses for _, s in steps]
    assert server.output_on is False


def test_the_limits_come_from_the_rig_file():
    config = parse_rig("[sim]\nmuscle = 'rat-edl'\nseed = 1\n[limits]\n"
                       "min_rest_after_tetanus_s = 5\n")
    rig_ = connect_rig(config)
    try:
        stim, clock = rig_.stimulator, ManualClock()
        stim.fire_ledger.clock = clock
        stim.train(2.0, 0.2, 100, 300)
        clock.t += 0.3 + 3.0                       # 3 s of rest: fine on the example rig
        with pytest.raises(TimelineLimitError) as info:
            stim.single_pulse(2.0, 0.2)
        assert (info.value.rule, info.value.limit) == ("rest_s", 5.0)
        assert "minimum of 5 s" in str(info.value)
        assert rig_.sim.stimulator_device.output_on is False
        clock.t += 2.0
        stim.single_pulse(2.0, 0.2)
    finally:
        rig_.close()


# ------------------------------------------------------------------ the DAQ stimulator

def test_the_daq_stimulator_refuses_without_writing_a_sample():
    from tests.nidaqmx_double import NidaqmxDouble
    from tests.test_daq_nidaqmx_layer import _rig, _writes

    double = NidaqmxDouble()
    source, stim = _rig(double)
    clock = ManualClock()
    stim.fire_ledger.clock = clock
    source.start()
    try:
        stim.configure(StimulusSpec(3.0, 0.2, 3, 100.0))
        stim.fire()
        at = stim.fired_at[-1]
        for _ in range(5):                         # back to back, straight through the API
            clock.t += 0.01
            with pytest.raises(TimelineLimitError, match="rest"):
                stim.fire()
        _wait(lambda: sum(len(w) for w in _writes(double)) > at + 2000)
    finally:
        source.stop()
    out = np.concatenate(_writes(double))
    assert list(np.flatnonzero(np.diff(np.r_[0.0, out]) > 0)) == [at, at + 100, at + 200]
    assert np.count_nonzero(out) == 6 and stim.fired_at == [at]
    assert double.pin_V == 0.0


def test_the_daq_sim_rig_refuses_an_attack_with_the_rig_file_limits_and_stays_at_0V():
    config = parse_rig("[sim]\nmuscle = 'rat-edl'\nseed = 3\n[limits]\n"
                       "min_rest_after_tetanus_s = 5\n[daq]\n[daq.ao]\n")
    rig_ = connect_rig(config)
    amp, stim, board = rig_.amplifier, rig_.stimulator, rig_.sim
    clock = ManualClock()
    stim.fire_ledger.clock = clock
    try:
        amp.start()
        stim.configure(StimulusSpec(3.0, 0.2, 5, 50.0))
        stim.fire()
        for k in range(10):
            clock.t += 0.4
            with pytest.raises(TimelineLimitError) as info:
                stim.fire()
            assert (info.value.rule, info.value.limit) == ("rest_s", 5.0)
        _wait(lambda: amp.read_position > stim.fired_at[0] + 2000)
        stim.set_output(False)
        assert len(stim.fired_at) == 1
        assert board.ao_volts == 0.0
        clock.t += 5.0
        stim.fire()                                # after the rig's rest: fires
        assert len(stim.fired_at) == 2
    finally:
        rig_.close()


def _wait(condition, limit_s: float = 10.0) -> None:
    """Poll what another thread makes true (no timing is asserted)."""
    end = time.monotonic() + limit_s
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)


# ------------------------------------------------------------------------ the runner

def test_a_run_the_interlock_refuses_fails_in_one_line_with_the_output_off(tmp_path, monkeypatch):
    """A stimulus fired outside the run (a script, a second program on the rig) leaves a
    rest the run's first twitch would break. The runner would wait that out
    (tests/test_fire_hold.py); one that does not (here: its wait switched off, as for a
    fire that slips in between its wait and the fire) meets the interlock: the run fails
    cleanly, the file is readable."""
    from protocols.engine.runner import ProtocolRunner
    monkeypatch.setattr(ProtocolRunner, "hold_fire", lambda self, spec: None)
    limits = StimulusLimits(min_rest_after_tetanus_s=60.0)
    p = parse_protocol(textwrap.dedent("""\
        name: after a stray train
        windows: {pre_ms: 30, twitch_post_ms: 100}
        steps:
          - {kind: twitch, count: 2, interval_s: 0.3, current_mA: 2}
        """), source="p.yaml", limits=limits)
    holder = {}

    def factory(hook):
        holder["rig"] = rig_ = start_sim_rig("rat-edl", seed=1, sample_rate_hz=5000,
                                             limits=limits, on_command=hook)
        rig_.stimulator.train(2.0, 0.2, 100, 300)      # straight through the driver
        rig_.stimulator.set_output(False)
        return rig_

    session = ExperimentSession(p, factory, tmp_path / "s.h5", SessionMetadata(subject_id="t"),
                                auto_continue=True, tare_samples=200)
    session.start()
    try:
        finished = session.wait(60)
        server = holder["rig"].sim.stimulator_device
        assert finished.status == "failed"
        assert "refused to fire" in finished.message and "minimum of 60 s" in finished.message
        assert "\n" not in finished.message
        assert server.output_on is False and server.commands.count("*TRG") == 1
    finally:
        session.close()
    assert session_info(tmp_path / "s.h5")["complete"]
