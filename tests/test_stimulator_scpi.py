"""Byte-exact tests of the stimulator driver against docs/wire-protocols.md section 1.

A fake transport records every line the driver sends and answers queries like an idle,
error-free 33500; one test also captures the raw bytes on a real socket through
VisaTransport, so the terminations are checked too.
"""
from __future__ import annotations

import socket
import threading
from collections import deque

import pytest

from drivers.capabilities import Stimulator, StimulusSpec
from drivers.errors import (DeviceDisconnected, DeviceError, DeviceTimeout, InstrumentError,
                            ProtocolError)
from drivers.limits import StimulusLimits
from drivers.stimulator import ScpiStimulator, StimulusAborted, scpi

IDN = "Agilent Technologies,33521A,MY52300123,2.03-1.19-2.00-52-00"
NO_ERROR = '+0,"No error"'

OPEN_SEQUENCE = [
    "*IDN?", "OUTP OFF", "*RST", "*CLS",
    "OUTP OFF", "FUNC PULS", "OUTP:LOAD INF", "FUNC:PULS:WIDT 0.0001", "FREQ 10",
    "VOLT:LOW 0", "VOLT:HIGH 0.01", "BURS:MODE TRIG", "BURS:NCYC 1", "TRIG:SOUR BUS",
    "BURS:STAT ON", "OUTP:SYNC ON", "OUTP:SYNC:MODE CARR",
    "SYST:ERR?",
]
FIRE_SEQUENCE = ["OUTP ON", "*TRG", "*OPC?", "SYST:ERR?"]


class FakeTransport:
    """Records commands; answers queries. ``errors`` feeds ``SYST:ERR?`` (then +0).

    ``block_on`` names a command whose write waits on ``release`` (with the lock held,
    like a real write in progress) after setting ``entered``.
    """

    def __init__(self, identity: str = IDN) -> None:
        self.lock = threading.RLock()
        self.identity = identity
        self.sent: list[str] = []
        self.urgent: list[str] = []
        self.timeouts: dict[str, float | None] = {}
        self.errors: deque[str] = deque()
        self.replies: dict[str, str] = {}
        self.fail: dict[str, Exception] = {}
        self.closed = False
        self.block_on: str | None = None
        self.entered = threading.Event()
        self.release = threading.Event()

    def _record(self, command: str) -> None:
        if self.closed:
            raise DeviceDisconnected("fake transport closed")
        self.sent.append(command)
        if command == self.block_on:
            self.entered.set()
            assert self.release.wait(10), "test forgot to release the blocked write"
        if command in self.fail:
            raise self.fail[command]

    def write(self, command: str) -> None:
        with self.lock:
            self._record(command)

    def query(self, command: str, timeout_s: float | None = None) -> str:
        with self.lock:
            self._record(command)
            self.timeouts[command] = timeout_s
            if command in self.replies:
                return self.replies[command]
            if command == "*IDN?":
                return self.identity
            if command == "SYST:ERR?":
                return self.errors.popleft() if self.errors else NO_ERROR
            if command == "*OPC?":
                return "1"
            if command == "OUTP?":
                return "0"
            raise AssertionError(f"unexpected query {command!r}")

    def write_urgent(self, command: str) -> None:
        if self.closed:
            raise DeviceDisconnected("fake transport closed")
        self.urgent.append(command)

    def close(self) -> None:
        self.closed = True

    def wire(self, start: int = 0) -> bytes:
        """What VisaTransport puts on the wire for ``sent[start:]``."""
        return b"".join(c.encode("ascii") + b"\n" for c in self.sent[start:])


def open_fake(gain: float = 1.0, limits: StimulusLimits | None = None, **options):
    fake = FakeTransport()
    stim = ScpiStimulator.attach(fake, limits=limits or StimulusLimits(),
                                 isolator_gain_mA_per_V=gain, **options)
    return stim, fake


def configure_block(width: str, freq: str, volts: str, ncyc: int) -> list[str]:
    return ["OUTP OFF", "FUNC PULS", "OUTP:LOAD INF", f"FUNC:PULS:WIDT {width}",
            f"FREQ {freq}", "VOLT:LOW 0", f"VOLT:HIGH {volts}", "BURS:MODE TRIG",
            f"BURS:NCYC {ncyc}", "TRIG:SOUR BUS", "BURS:STAT ON", "OUTP:SYNC ON",
            "OUTP:SYNC:MODE CARR", "SYST:ERR?"]


# ---------------------------------------------------------------------------- sequences

def test_open_sends_identity_reset_and_safe_baseline():
    stim, fake = open_fake()
    assert fake.sent == OPEN_SEQUENCE
    assert stim.identity == IDN
    assert isinstance(stim, Stimulator)


def test_twitch_commands_are_byte_exact():
    stim, fake = open_fake(gain=1.0)
    n = len(fake.sent)
    spec = stim.single_pulse(3.6, 0.2)
    assert spec == StimulusSpec(3.6, 0.2)
    assert fake.sent[n:] == configure_block("0.0002", "10", "3.6", 1) + FIRE_SEQUENCE
    assert fake.wire(n) == (
        b"OUTP OFF\nFUNC PULS\nOUTP:LOAD INF\nFUNC:PULS:WIDT 0.0002\nFREQ 10\nVOLT:LOW 0\n"
        b"VOLT:HIGH 3.6\nBURS:MODE TRIG\nBURS:NCYC 1\nTRIG:SOUR BUS\nBURS:STAT ON\n"
        b"OUTP:SYNC ON\nOUTP:SYNC:MODE CARR\nSYST:ERR?\nOUTP ON\n*TRG\n*OPC?\nSYST:ERR?\n")


def test_150hz_300ms_train_with_gain_2_is_byte_exact():
    stim, fake = open_fake(gain=2.0)
    n = len(fake.sent)
    spec = stim.train(3.6, 0.2, 150, 300)
    assert (spec.pulses, spec.frequency_hz) == (45, 150)
    assert fake.sent[n:] == configure_block("0.0002", "150", "1.8", 45) + FIRE_SEQUENCE
    assert fake.wire(n) == (
        b"OUTP OFF\nFUNC PULS\nOUTP:LOAD INF\nFUNC:PULS:WIDT 0.0002\nFREQ 150\nVOLT:LOW 0\n"
        b"VOLT:HIGH 1.8\nBURS:MODE TRIG\nBURS:NCYC 45\nTRIG:SOUR BUS\nBURS:STAT ON\n"
        b"OUTP:SYNC ON\nOUTP:SYNC:MODE CARR\nSYST:ERR?\nOUTP ON\n*TRG\n*OPC?\nSYST:ERR?\n")


def test_opc_after_trigger_is_allowed_the_train_duration():
    stim, fake = open_fake(timeout_s=1.5)
    spec = stim.train(1.0, 0.2, 100, 400)
    assert fake.timeouts["*OPC?"] == pytest.approx(1.5 + spec.duration_ms / 1000.0)


def test_frequency_goes_first_when_the_new_width_does_not_fit_the_old_period():
    limits = StimulusLimits(max_frequency_hz=2000.0)
    stim, fake = open_fake(limits=limits)
    stim.configure(StimulusSpec(1.0, 0.1, 10, 1000.0))   # period now 1 ms
    n = len(fake.sent)
    stim.configure(StimulusSpec(1.0, 1.0))               # 1 ms width: does not fit 1 ms
    block = fake.sent[n:]
    assert block.index("FREQ 10") < block.index("FUNC:PULS:WIDT 0.001")
    n = len(fake.sent)
    stim.configure(StimulusSpec(1.0, 0.1, 10, 1000.0))   # 0.1 ms fits the 100 ms period
    block = fake.sent[n:]
    assert block.index("FUNC:PULS:WIDT 0.0001") < block.index("FREQ 1000")


def test_after_a_failed_configure_the_driver_asks_width_and_frequency():
    stim, fake = open_fake()
    fake.errors.append('-222,"Data out of range"')
    with pytest.raises(InstrumentError):
        stim.configure(StimulusSpec(1.0, 0.2))
    fake.replies.update({"FUNC:PULS:WIDT?": "+2.000000000000000E-04",
                         "FREQ?": "+1.000000000000000E+01"})
    n = len(fake.sent)
    stim.configure(StimulusSpec(1.0, 0.2))
    assert fake.sent[n:n + 2] == ["FUNC:PULS:WIDT?", "FREQ?"]
    assert fake.sent[n + 2:] == configure_block("0.0002", "10", "1", 1)


def test_abort_and_close_sequences():
    stim, fake = open_fake()
    n = len(fake.sent)
    stim.abort()
    assert fake.sent[n:] == ["ABOR", "OUTP OFF", "OUTP?"]
    n = len(fake.sent)
    stim.close()
    assert fake.sent[n:] == ["OUTP OFF", "ABOR", "OUTP?"]
    assert fake.closed and stim.closed
    stim.close()   # idempotent
    stim.abort()   # harmless after close
    with pytest.raises(DeviceDisconnected):
        stim.configure(StimulusSpec(1.0, 0.2))


def test_set_output_and_context_manager():
    fake = FakeTransport()
    with ScpiStimulator.attach(fake, limits=StimulusLimits()) as stim:
        n = len(fake.sent)
        fake.replies["OUTP?"] = "1"
        stim.set_output(True)
        fake.replies["OUTP?"] = "0"
        stim.set_output(False)
        assert fake.sent[n:] == ["OUTP ON", "OUTP?", "OUTP OFF", "OUTP?"]
    assert fake.sent[-3] == "OUTP OFF" and fake.closed


def test_set_output_that_does_not_take_effect_is_an_error_and_output_goes_off():
    stim, fake = open_fake()
    fake.errors.append('-800,"Output overload"')
    with pytest.raises(InstrumentError) as info:
        stim.set_output(True)                # OUTP? still answers 0
    assert info.value.code == -800
    assert fake.sent[-5:] == ["OUTP ON", "OUTP?", "SYST:ERR?", "SYST:ERR?", "OUTP OFF"]
    fake.replies["OUTP?"] = "1"
    with pytest.raises(DeviceError, match="did not switch off"):
        stim.set_output(False)


def test_on_command_sees_every_command_sent():
    seen: list[str] = []
    stim, fake = open_fake(on_command=seen.append)
    stim.train(2.0, 0.2, 50, 100)
    stim.abort()
    stim.close()
    assert seen == fake.sent


def test_a_failing_audit_hook_does_not_stop_the_driver():
    def hook(command: str) -> None:
        raise RuntimeError("audit log full")
    stim, fake = open_fake(on_command=hook)
    stim.single_pulse(1.0, 0.2)
    assert fake.sent[-len(FIRE_SEQUENCE):] == FIRE_SEQUENCE


# ---------------------------------------------------------------------------- failures

def test_instrument_error_after_configure_raises_with_its_code_and_turns_output_off():
    stim, fake = open_fake()
    fake.errors.extend(['-222,"Data out of range"', '-221,"Settings conflict"'])
    with pytest.raises(InstrumentError) as info:
        stim.configure(StimulusSpec(2.0, 0.2))
    assert (info.value.code, info.value.message) == (-222, "Data out of range")
    assert info.value.errors == ['-222,"Data out of range"', '-221,"Settings conflict"']
    assert fake.sent[-1] == "OUTP OFF"
    assert stim.configured is None
    with pytest.raises(DeviceError, match="configure"):
        stim.fire()
    assert "OUTP ON" not in fake.sent


def test_instrument_error_after_fire_turns_output_off():
    stim, fake = open_fake()
    stim.configure(StimulusSpec(2.0, 0.2))
    fake.errors.append('-211,"Trigger ignored"')
    with pytest.raises(InstrumentError) as info:
        stim.fire()
    assert info.value.code == -211
    assert fake.sent[-1] == "OUTP OFF"


@pytest.mark.parametrize("failing", ["*TRG", "*OPC?"])
def test_any_exception_in_fire_switches_output_off_before_propagating(failing):
    stim, fake = open_fake()
    stim.configure(StimulusSpec(2.0, 0.2))
    fake.fail[failing] = DeviceTimeout("no answer")
    with pytest.raises(DeviceTimeout):
        stim.fire()
    assert fake.sent[-2:] == [failing, "OUTP OFF"]


def test_exception_midway_through_configure_switches_output_off():
    stim, fake = open_fake()
    fake.fail["VOLT:HIGH 2"] = DeviceTimeout("stalled")
    with pytest.raises(DeviceTimeout):
        stim.configure(StimulusSpec(2.0, 0.2))
    assert fake.sent[-2:] == ["VOLT:HIGH 2", "OUTP OFF"]


def test_unexpected_opc_reply_is_a_protocol_error():
    stim, fake = open_fake()
    stim.configure(StimulusSpec(2.0, 0.2))
    fake.replies["*OPC?"] = "banana"
    with pytest.raises(ProtocolError):
        stim.fire()
    assert fake.sent[-1] == "OUTP OFF"


def test_a_device_that_never_empties_its_error_queue_cannot_loop_the_driver():
    stim, fake = open_fake()
    fake.replies["SYST:ERR?"] = '-100,"Command error"'
    with pytest.raises(ProtocolError, match="did not empty"):
        stim.read_errors()
    assert fake.sent.count("SYST:ERR?") < 40


def test_read_errors_drains_the_queue():
    stim, fake = open_fake()
    fake.errors.extend(['-113,"Undefined header"', '-222,"Data out of range"'])
    assert stim.read_errors() == ['-113,"Undefined header"', '-222,"Data out of range"']
    assert stim.read_errors() == []


def test_abort_never_raises_when_the_device_is_gone():
    stim, fake = open_fake()
    fake.fail.update({"ABOR": DeviceDisconnected("gone"), "OUTP OFF": DeviceDisconnected("gone")})
    stim.abort()
    stim.close()
    assert fake.closed


def test_abort_while_configure_is_blocked_stops_it_and_nothing_turns_output_on():
    stim, fake = open_fake()
    fake.block_on = "VOLT:LOW 0"
    outcome: list[BaseException] = []

    def configure_and_fire():
        try:
            stim.configure(StimulusSpec(2.0, 0.2))
            stim.fire()
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    worker = threading.Thread(target=configure_and_fire)
    n = len(fake.sent)
    worker.start()
    assert fake.entered.wait(10)
    stim.abort()                          # the transport lock is held: urgent path
    assert fake.urgent == ["ABOR", "OUTP OFF"]
    fake.release.set()
    worker.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], StimulusAborted)
    after = fake.sent[n:]
    assert "OUTP ON" not in after and "*TRG" not in after
    assert after[-1] == "OUTP OFF"


def test_abort_between_output_on_and_trigger_prevents_the_trigger():
    stim, fake = open_fake()
    stim.configure(StimulusSpec(2.0, 0.2))
    fake.block_on = "OUTP ON"
    errors: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(stim.fire, errors))
    worker.start()
    assert fake.entered.wait(10)
    stim.abort()
    fake.release.set()
    worker.join(10)
    assert isinstance(errors[0], StimulusAborted)
    assert "*TRG" not in fake.sent
    assert fake.urgent == ["ABOR", "OUTP OFF"] and fake.sent[-1] == "OUTP OFF"
    # after an abort the stimulus is disarmed; a new configure() re-arms it
    with pytest.raises(StimulusAborted):
        stim.fire()
    stim.configure(StimulusSpec(2.0, 0.2))
    stim.fire()
    assert fake.sent[-len(FIRE_SEQUENCE):] == FIRE_SEQUENCE


def _capture(fn, errors: list[BaseException]) -> None:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        errors.append(exc)


def test_open_refuses_a_malformed_identity_and_leaves_output_off():
    fake = FakeTransport(identity="hello")
    with pytest.raises(ProtocolError, match=r"\*IDN\?"):
        ScpiStimulator.attach(fake, limits=StimulusLimits())
    assert fake.sent == ["*IDN?", "OUTP OFF"]


def test_bad_options_are_refused_with_one_line():
    for options in ({"isolator_gain_mA_per_V": 0}, {"max_output_V": -1},
                    {"isolator_gain_mA_per_V": float("nan")}):
        with pytest.raises(ValueError) as info:
            ScpiStimulator(FakeTransport(), limits=StimulusLimits(), **options)
        assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------- parsing

@pytest.mark.parametrize("reply, code, message", [
    ('+0,"No error"', 0, "No error"),
    ('-113,"Undefined header"', -113, "Undefined header"),
    ('-222,"Data out of range;value clipped to upper limit"', -222,
     "Data out of range;value clipped to upper limit"),
    ('-350,"Queue overflow"\r\n', -350, "Queue overflow"),
    ('-100,"Bad ""quoted"" word"', -100, 'Bad "quoted" word'),
    ("0,No error", 0, "No error"),
])
def test_parse_error(reply, code, message):
    entry = scpi.parse_error(reply)
    assert (entry.code, entry.message) == (code, message)
    assert entry.is_error == (code != 0)


def test_error_round_trips_to_the_instrument_text():
    assert str(scpi.parse_error('-113,"Undefined header"')) == '-113,"Undefined header"'
    assert str(scpi.parse_error('+0,"No error"')) == '+0,"No error"'


@pytest.mark.parametrize("reply", ["", "No error", '"-113","x"', "1"])
def test_parse_error_rejects_garbage(reply):
    with pytest.raises(ProtocolError):
        scpi.parse_error(reply)


def test_parse_identity():
    idn = scpi.parse_identity(IDN + "\n")
    assert (idn.manufacturer, idn.model, idn.serial, idn.firmware) == (
        "Agilent Technologies", "33521A", "MY52300123", "2.03-1.19-2.00-52-00")
    assert idn.is_33500_family and str(idn) == IDN
    assert scpi.parse_identity("Keysight Technologies,33622A,MY1,1.0").is_33500_family
    assert not scpi.parse_identity("Rigol Technologies,DG1022Z,DG1,1.0").is_33500_family
    for bad in ("", "onlyone", "a,b,c", ",33521A,x,y", "a,b,c,d,e"):
        with pytest.raises(ProtocolError):
            scpi.parse_identity(bad)


@pytest.mark.parametrize("value, text", [
    (0.0002, "0.0002"), (5e-05, "5E-05"), (150.0, "150"), (3.6, "3.6"), (0, "0"),
    (1.0 / 3.0, "0.333333333"), (30e6, "30000000"),
])
def test_format_number(value, text):
    assert scpi.format_number(value) == text
    assert float(text) == pytest.approx(value, rel=1e-8)


def test_format_number_refuses_non_finite():
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            scpi.format_number(value)


# ---------------------------------------------------------------------------- real bytes

class _CaptureServer:
    """A raw TCP peer that records every byte and answers the driver's queries."""

    ANSWERS = {b"*IDN?": IDN.encode(), b"SYST:ERR?": NO_ERROR.encode(), b"*OPC?": b"1",
               b"OUTP?": b"0"}

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            pending = b""
            while data := conn.recv(4096):
                self.received += data
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.endswith(b"?"):
                        conn.sendall(self.ANSWERS[line] + b"\n")
        self.listener.close()


def test_bytes_on_a_real_socket_through_visa_transport():
    peer = _CaptureServer()
    stim = ScpiStimulator.open(f"TCPIP0::127.0.0.1::{peer.port}::SOCKET",
                               limits=StimulusLimits(), isolator_gain_mA_per_V=2.0)
    stim.train(3.6, 0.2, 150, 300)
    stim.close()
    peer.thread.join(10)
    expected = OPEN_SEQUENCE + configure_block("0.0002", "150", "1.8", 45) + FIRE_SEQUENCE + [
        "OUTP OFF", "ABOR", "OUTP?"]
    assert bytes(peer.received) == b"".join(c.encode() + b"\n" for c in expected)


def test_abort_between_configure_and_fire_disarms_fire():
    """The runner checks for abort, then fires: an abort landing in between must still
    stop the stimulus. fire() refuses after any abort since configure(), sending nothing."""
    stim, fake = open_fake()
    stim.configure(StimulusSpec(2.0, 0.2, 45, 150.0))
    stim.abort()
    n = len(fake.sent)
    with pytest.raises(StimulusAborted):
        stim.fire()
    assert "OUTP ON" not in fake.sent[n:] and "*TRG" not in fake.sent[n:]
    stim.configure(StimulusSpec(2.0, 0.2, 45, 150.0))   # re-arming needs a new configure
    n = len(fake.sent)
    stim.fire()
    assert fake.sent[n:] == FIRE_SEQUENCE
