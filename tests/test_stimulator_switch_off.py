"""Byte-exact tests of the stimulator's switch-off procedures (drivers/stimulator/switch_off.py)
on their own, and of the driver's use of them (abort/close with a stimulator that says
its output is still on, or that has stopped answering)."""
from __future__ import annotations

import pytest

from drivers.errors import DeviceDisconnected, DeviceTimeout, ProtocolError
from drivers.stimulator import scpi, switch_off
from tests.test_stimulator_scpi import open_fake


class Wire:
    """Records messages; ``OUTP?`` answers ``reply`` (or raises it); ``fail`` maps a
    command to the exception its send raises."""

    def __init__(self, reply: str | Exception = "0", fail: dict | None = None) -> None:
        self.reply = reply
        self.fail = fail or {}
        self.sent: list[str] = []
        self.timeouts: list[float] = []
        self.timed_out = 0

    def send(self, command: str) -> None:
        self.sent.append(command)
        if command in self.fail:
            raise self.fail[command]

    def ask(self, command: str, timeout_s: float) -> str:
        self.sent.append(command)
        self.timeouts.append(timeout_s)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply

    def on_timeout(self) -> None:
        self.timed_out += 1

    def confirm(self, timeout_s: float | None = 1.0) -> bool:
        return switch_off.confirm_off(self.ask, self.send, during="test", timeout_s=timeout_s,
                                      on_timeout=self.on_timeout)


# ---------------------------------------------------------------------------- off commands

@pytest.mark.parametrize("commands", [scpi.ABORT, scpi.CLOSE])
def test_off_commands_are_all_sent_in_order(commands):
    wire = Wire()
    assert switch_off.send_off_commands(wire.send, commands, "test") is True
    assert wire.sent == list(commands)


def test_a_failing_off_command_does_not_stop_the_next():
    wire = Wire(fail={"OUTP OFF": DeviceTimeout("stalled")})
    assert switch_off.send_off_commands(wire.send, scpi.CLOSE, "close") is True
    assert wire.sent == ["OUTP OFF", "ABOR"]


def test_a_stimulator_that_is_gone_stops_the_off_commands():
    wire = Wire(fail={"ABOR": DeviceDisconnected("gone")})
    assert switch_off.send_off_commands(wire.send, scpi.ABORT, "abort") is False
    assert wire.sent == ["ABOR"]


# ---------------------------------------------------------------------------- confirmation

@pytest.mark.parametrize("unresponsive, last, expected", [
    (False, None, 1.0),       # answering: the driver's timeout, at most CONFIRM_MAX_S
    (False, False, 1.0),
    (True, None, 0.3),        # just failed to answer: asked once, briefly
    (True, True, 0.3),
    (True, False, None),      # failed to answer and left unconfirmed: not asked again
])
def test_confirm_timeout(unresponsive, last, expected):
    assert switch_off.confirm_timeout(2.0, unresponsive=unresponsive, last_confirmed=last,
                                      unresponsive_timeout_s=0.3) == expected
    assert switch_off.confirm_timeout(0.5, unresponsive=False, last_confirmed=None,
                                      unresponsive_timeout_s=0.3) == 0.5


def test_off_reported_off_is_confirmed():
    wire = Wire(reply="0")
    assert wire.confirm(0.7) is True
    assert (wire.sent, wire.timeouts, wire.timed_out) == (["OUTP?"], [0.7], 0)


def test_output_still_on_is_switched_off_again_and_not_confirmed():
    wire = Wire(reply="+1")
    assert wire.confirm() is False
    assert wire.sent == ["OUTP?", "OUTP OFF"]


def test_no_reply_is_not_confirmed_and_reported_as_a_timeout():
    wire = Wire(reply=DeviceTimeout("no answer"))
    assert wire.confirm() is False
    assert (wire.sent, wire.timed_out) == (["OUTP?"], 1)


def test_a_resend_that_times_out_is_reported_as_a_timeout_too():
    wire = Wire(reply="1", fail={"OUTP OFF": DeviceTimeout("stalled")})
    assert wire.confirm() is False
    assert (wire.sent, wire.timed_out) == (["OUTP?", "OUTP OFF"], 1)


@pytest.mark.parametrize("reply", ["banana", ProtocolError("garbled"), DeviceDisconnected("gone")])
def test_any_other_failure_is_not_confirmed_and_not_a_timeout(reply):
    wire = Wire(reply=reply)
    assert wire.confirm() is False
    assert (wire.sent, wire.timed_out) == (["OUTP?"], 0)


def test_not_asked_sends_nothing():
    wire = Wire()
    assert wire.confirm(None) is False
    assert wire.sent == []


# ---------------------------------------------------------------------------- in the driver

def test_abort_with_the_output_still_on_sends_off_again_and_reports_it():
    stim, fake = open_fake()
    fake.replies["OUTP?"] = "1"
    n = len(fake.sent)
    stim.abort()
    assert fake.sent[n:] == ["ABOR", "OUTP OFF", "OUTP?", "OUTP OFF"]
    assert stim.off_confirmed is False and stim.responsive
    fake.replies["OUTP?"] = "0"
    n = len(fake.sent)
    stim.close()
    assert fake.sent[n:] == ["OUTP OFF", "ABOR", "OUTP?"] and stim.off_confirmed is True


def test_a_silent_stimulator_is_asked_once_briefly_then_not_again():
    stim, fake = open_fake(timeout_s=2.0)
    fake.fail["OUTP?"] = DeviceTimeout("no answer")
    n = len(fake.sent)
    stim.abort()
    assert fake.sent[n:] == ["ABOR", "OUTP OFF", "OUTP?"]
    assert stim.off_confirmed is False and not stim.responsive
    n = len(fake.sent)
    stim.close()
    assert fake.sent[n:] == ["OUTP OFF", "ABOR"]         # not asked again


def test_a_stimulator_gone_during_close_is_reported_unconfirmed():
    stim, fake = open_fake()
    fake.fail["OUTP OFF"] = DeviceDisconnected("gone")
    n = len(fake.sent)
    stim.close()
    assert fake.sent[n:] == ["OUTP OFF"] and stim.off_confirmed is False and fake.closed
