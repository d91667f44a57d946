"""The runner waits out a short hold of the stimulator's fire-time interlock instead of
being refused: a run restarted right after a train (an operator aborting mid-tetanus and
starting again at once, the stimulator still connected) waits the rig's rest, says so,
and fires; an abort during that wait fires nothing and leaves the output off.

How long to wait is the ledger's answer from the same rule functions it refuses with
(``FireLedger.fire_delay``). Clocks are injected: nothing here depends on how fast the
machine is (a hold the test does not shorten lasts 30 s, far beyond any abort)."""
from __future__ import annotations

import textwrap
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.metadata import SessionMetadata
from app.recorder.reader import session_info
from app.rig import start_sim_rig
from app.session import ExperimentSession
from drivers.capabilities import PacedStimulator, StimulusSpec
from drivers.errors import TimelineLimitError
from drivers.fire_ledger import DELAY_RESOLUTION_S, TOLERANCE_S, FireLedger
from drivers.limits import StimulusLimits
from protocols import events as E
from protocols.loader import parse_protocol
from tests.test_stimulator_scpi import open_fake
from tests.test_stimulator_sim import ManualClock

pytestmark = pytest.mark.timeout(120)

TWITCH = StimulusSpec(2.0, 0.2)
TRAIN = StimulusSpec.train(2.0, 0.2, 100, 300)           # 30 pulses, 300 ms
LONG = StimulusSpec.train(2.0, 0.2, 50, 1000)
LIMITS = StimulusLimits(max_mean_rate_hz=8.0, max_duty_cycle=0.3, rate_window_s=5.0)


# ----------------------------------------------------------------------- the ledger

@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(0.0, 3.0, allow_nan=False),
                                st.sampled_from([TWITCH, TRAIN, LONG])), min_size=1, max_size=20),
       candidate=st.sampled_from([TWITCH, TRAIN, LONG]))
def test_the_delay_is_exactly_when_the_interlock_would_admit(steps, candidate):
    """Waiting the delay is always enough, and (beyond its resolution) never too much."""
    clock = ManualClock()
    ledger = FireLedger(LIMITS, clock=clock)
    for gap, spec in steps:                        # whatever history the interlock let through
        clock.t += gap
        try:
            ledger.admit(spec)
        except TimelineLimitError:
            pass
    now = clock.t
    delay = ledger.fire_delay(candidate)
    held = ledger.problems(candidate)
    assert (delay.wait_s == 0) == (not held)
    # the rules named are those holding longest: every one of them is broken now
    assert bool(delay.problems) == bool(held)
    assert {p.quantity for p in delay.problems} <= {p.quantity for p in held}
    if delay.wait_s == float("inf"):
        assert ledger.problems(candidate, at=now + 1e6)
        return
    if delay.wait_s > 2 * DELAY_RESOLUTION_S:
        assert ledger.problems(candidate, at=now + delay.wait_s - 2 * DELAY_RESOLUTION_S)
    clock.t = now + delay.wait_s
    ledger.admit(candidate)                        # no TimelineLimitError


def test_a_stimulus_the_rate_rule_refuses_on_its_own_never_comes_free():
    ledger = FireLedger(StimulusLimits(max_mean_rate_hz=1.0, rate_window_s=10.0), clock=ManualClock())
    assert ledger.fire_delay(StimulusSpec(2.0, 0.2, 20, 100.0)).wait_s == float("inf")


def test_the_driver_answers_from_its_ledger_without_a_byte():
    clock = ManualClock()
    stim, fake = open_fake(clock=clock)
    assert isinstance(stim, PacedStimulator)
    stim.configure(TRAIN)
    stim.fire()
    stim.set_output(False)
    clock.t += 0.5                                 # 0.2 s of rest after the 300 ms train
    sent = list(fake.sent)
    delay = stim.fire_ledger.fire_delay(TWITCH)
    assert fake.sent == sent
    assert delay.rule == "rest_s"
    assert 0.8 - TOLERANCE_S <= delay.wait_s <= 0.8 - TOLERANCE_S + DELAY_RESOLUTION_S
    clock.t += delay.wait_s
    stim.configure(TWITCH)
    stim.fire()                                    # admitted after exactly that wait
    stim.set_output(False)


def test_the_daq_stimulator_answers_too():
    from tests.nidaqmx_double import NidaqmxDouble
    from tests.test_daq_nidaqmx_layer import _rig

    _, stim = _rig(NidaqmxDouble())
    clock = ManualClock()
    stim.fire_ledger.clock = clock
    assert isinstance(stim, PacedStimulator) and stim.fire_ledger.fire_delay(TWITCH).wait_s == 0
    stim.fire_ledger.admit(TRAIN)                  # as its fire() records a train
    assert stim.fire_ledger.fire_delay(TWITCH).rule == "rest_s"


# ------------------------------------------------------------------------ the runner

class OffsetClock:
    """The host's monotonic clock, plus what the test has moved it on by."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


PROTOCOL = textwrap.dedent("""\
    name: restarted at once
    windows: {pre_ms: 30, twitch_post_ms: 100}
    steps:
      - {kind: twitch, count: 2, interval_s: 0.3, current_mA: 2}
    """)


def _session_after_a_train(tmp_path, limits, clock=None):
    """A session whose stimulator fired a train just before the run (as the run before
    did, aborted mid-tetanus); returns (session, holder with the rig, events)."""
    p = parse_protocol(PROTOCOL, source="p.yaml", limits=limits)
    holder: dict = {}

    def factory(hook):
        holder["rig"] = rig_ = start_sim_rig("rat-edl", seed=1, sample_rate_hz=5000,
                                             limits=limits, on_command=hook)
        if clock is not None:
            rig_.stimulator.fire_ledger.clock = clock
        rig_.stimulator.train(2.0, 0.2, 100, 300)      # the previous run's train
        rig_.stimulator.set_output(False)
        return rig_

    session = ExperimentSession(p, factory, tmp_path / "s.h5", SessionMetadata(subject_id="t"),
                                auto_continue=True, tare_samples=200)
    events: list = []
    session.subscribe(events.append)
    return session, holder, events


def test_a_restart_right_after_a_train_waits_the_rest_says_so_then_fires(tmp_path):
    limits = StimulusLimits(min_rest_after_tetanus_s=30.0)
    clock = OffsetClock()
    session, holder, events = _session_after_a_train(tmp_path, limits, clock)
    # the test's stand-in for the 30 s passing: move the interlock's clock on at once
    session.subscribe(lambda ev: isinstance(ev, E.FireHeld) and setattr(
        clock, "offset", clock.offset + ev.wait_s))
    session.start()
    try:
        finished = session.wait(60)
        server = holder["rig"].sim.stimulator_device
        assert finished.status == "completed", finished.message
        held = [ev for ev in events if isinstance(ev, E.FireHeld)]
        assert len(held) == 1
        assert held[0].rule == "rest_s" and 0 < held[0].wait_s <= 0.3 + 30.0
        assert held[0].message.startswith("waiting ") and "rest rule after the previous train" \
            in held[0].message
        first_trial = next(i for i, ev in enumerate(events) if isinstance(ev, E.TrialRecorded))
        assert events.index(held[0]) < first_trial
        assert server.commands.count("*TRG") == 1 + 2 and server.output_on is False
    finally:
        session.close()
    info = session_info(tmp_path / "s.h5")
    assert info["complete"]


def test_an_abort_during_the_wait_fires_nothing_and_leaves_the_output_off(tmp_path):
    limits = StimulusLimits(min_rest_after_tetanus_s=30.0)
    session, holder, events = _session_after_a_train(tmp_path, limits)
    holding = threading.Event()
    session.subscribe(lambda ev: isinstance(ev, E.FireHeld) and holding.set())
    session.start()
    try:
        assert holding.wait(30)                    # the 30 s hold has begun
        session.abort("operator pressed STOP")
        finished = session.wait(30)
        server = holder["rig"].sim.stimulator_device
        assert finished.status == "aborted"
        assert server.commands.count("*TRG") == 1 and server.commands.count("OUTP ON") == 1
        assert server.output_on is False
        assert not any(isinstance(ev, E.TrialRecorded) for ev in events)
    finally:
        session.close()
    assert session_info(tmp_path / "s.h5")["complete"]


def test_a_hold_beyond_the_rest_is_not_waited_the_run_fails_naming_the_rule_that_holds(tmp_path):
    """Stimulation outside the run that the rate rule holds against for ~60 s (and the
    rest rule for 1 s) is not a wait the runner takes on: the run fails at once, nothing
    fired, in one line naming the rate rule and how long (not the rest, which clears
    first: waiting that would only meet the rate rule)."""
    limits = StimulusLimits(max_mean_rate_hz=0.5, rate_window_s=60.0)   # 30 pulses per 60 s
    session, holder, events = _session_after_a_train(tmp_path, limits)
    session.start()
    try:
        finished = session.wait(60)
        server = holder["rig"].sim.stimulator_device
        assert finished.status == "failed"
        message = finished.message
        assert "rules over time hold a 2 mA, 0.2 ms pulse for another" in message
        assert "0.5 Hz over any 60 s" in message and "nothing was fired" in message
        assert "rest" not in message.replace("longer than a rest", "")
        assert "\n" not in message
        wait = float(message.split("for another ")[1].split(" s,")[0])
        assert 1.0 + TOLERANCE_S < wait <= 60          # beyond a rest, within the window
        assert not any(isinstance(ev, E.FireHeld) for ev in events)
        assert not any(isinstance(ev, E.TrialRecorded) for ev in events)
        assert server.commands.count("*TRG") == 1 and server.output_on is False
    finally:
        session.close()
    assert session_info(tmp_path / "s.h5")["complete"]


def test_a_long_hold_names_the_rule_that_holds_longest():
    clock = ManualClock()
    ledger = FireLedger(StimulusLimits(max_mean_rate_hz=0.5, rate_window_s=60.0), clock=clock)
    ledger.admit(TRAIN)                            # 30 pulses: the window is full
    clock.t += 0.5                                 # the rest rule holds too, for 0.75 s
    assert {p.quantity for p in ledger.problems(TWITCH)} == {"rest_s", "rate"}
    delay = ledger.fire_delay(TWITCH)
    assert delay.rule == "rate" and 59 < delay.wait_s <= 60


# ------------------------------------------------------------------ what the operator sees

HELD = E.FireHeld(wait_s=0.8, rule="rest_s", step_index=0,
                  message="waiting 0.8 s: the rig's rest rule after the previous train")


def test_the_cli_shows_the_wait(capsys):
    from app.cli.run_display import RunDisplay
    RunDisplay().handle(HELD)
    assert "waiting 0.8 s: the rig's rest rule after the previous train" in capsys.readouterr().out


@pytest.mark.gui
def test_the_gui_event_log_shows_the_wait(qtbot):
    from app.gui.acquire_page import AcquirePage
    page = AcquirePage()
    qtbot.addWidget(page)
    try:
        page.on_event(HELD)
        assert page.log.lines[-1].endswith("waiting 0.8 s: the rig's rest rule after the previous train")
    finally:
        page.shutdown()
