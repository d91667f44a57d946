"""Byte-exact tests of the stimulator's SCPI sequences and exchanges (drivers/stimulator/scpi.py)
on their own, without the driver: the opening, the configuration order chosen from the
shape programmed now, the read-back of that shape, the error-queue drain and ``*OPC?``.

The exchanges take the query and send as functions; :class:`Wire` records what they would
put on the wire (one LF-terminated line per message, as VisaTransport writes them).
"""
from __future__ import annotations

from collections import deque

import pytest

from drivers.capabilities import StimulusSpec
from drivers.errors import DeviceNotFound, DeviceTimeout, InstrumentError, ProtocolError
from drivers.stimulator import scpi
from tests.test_stimulator_scpi import IDN, NO_ERROR, OPEN_SEQUENCE, configure_block


class Wire:
    """Records every message; queries are answered from ``answers`` (a queue per query)."""

    def __init__(self, **answers: list[str]) -> None:
        self.sent: list[str] = []
        self.answers = {q: deque(a) for q, a in answers.items()}

    def send(self, command: str) -> None:
        self.sent.append(command)

    def ask(self, command: str) -> str:
        self.sent.append(command)
        queue = self.answers.get(command)
        if not queue:
            raise AssertionError(f"unexpected query {command!r}")
        return queue.popleft()

    def bytes(self) -> bytes:
        return b"".join(c.encode("ascii") + b"\n" for c in self.sent)


def block(width: str, freq: str, volts: str, ncyc: int, *, frequency_first: bool) -> list[str]:
    lines = configure_block(width, freq, volts, ncyc)[:-1]        # without SYST:ERR?
    if frequency_first:
        i = lines.index(f"FUNC:PULS:WIDT {width}")
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return lines


# ---------------------------------------------------------------------------- opening

def test_open_commands_are_the_documented_opening_between_idn_and_the_error_queue():
    assert scpi.open_commands() == OPEN_SEQUENCE[1:-1]
    assert scpi.RESET == ("OUTP OFF", "*RST", "*CLS")


def test_identify_and_reset_sends_the_opening_byte_exact():
    wire = Wire(**{"*IDN?": [IDN], "SYST:ERR?": [NO_ERROR]})
    reply, idn = scpi.identify_and_reset(
        wire.ask, wire.send, lambda: scpi.drain_errors(wire.ask), "TCPIP0::x::SOCKET")
    assert wire.sent == OPEN_SEQUENCE
    assert wire.bytes() == (
        b"*IDN?\nOUTP OFF\n*RST\n*CLS\nOUTP OFF\nFUNC PULS\nOUTP:LOAD INF\n"
        b"FUNC:PULS:WIDT 0.0001\nFREQ 10\nVOLT:LOW 0\nVOLT:HIGH 0.01\nBURS:MODE TRIG\n"
        b"BURS:NCYC 1\nTRIG:SOUR BUS\nBURS:STAT ON\nOUTP:SYNC ON\nOUTP:SYNC:MODE CARR\n"
        b"SYST:ERR?\n")
    assert reply == IDN and idn.model == "33521A"


def test_a_malformed_identity_stops_the_opening_after_idn():
    wire = Wire(**{"*IDN?": ["hello"]})
    with pytest.raises(ProtocolError, match=r"\*IDN\?"):
        scpi.identify_and_reset(wire.ask, wire.send, lambda: None, "x")
    assert wire.sent == ["*IDN?"]


def test_a_failed_setup_of_something_else_is_device_not_found_naming_the_resource():
    wire = Wire(**{"*IDN?": ["Some Maker,AMP-9,1,1"]})

    def raise_queued() -> None:
        raise InstrumentError(-113, "Undefined header")
    with pytest.raises(DeviceNotFound, match="ASRL3::INSTR answers") as info:
        scpi.identify_and_reset(wire.ask, wire.send, raise_queued, "ASRL3::INSTR")
    assert isinstance(info.value.__cause__, InstrumentError)
    assert wire.sent == OPEN_SEQUENCE[:-1]


def test_a_failed_setup_of_a_33500_is_its_own_error():
    wire = Wire(**{"*IDN?": [IDN]})

    def send(command: str) -> None:
        wire.send(command)
        if command == "*RST":
            raise DeviceTimeout("stalled")
    with pytest.raises(DeviceTimeout):
        scpi.identify_and_reset(wire.ask, send, lambda: None, "x")
    assert wire.sent == ["*IDN?", "OUTP OFF", "*RST"]


def test_another_generator_that_takes_the_setup_is_accepted():
    wire = Wire(**{"*IDN?": ["Rigol Technologies,DG1022Z,DG1,1.0"]})
    _, idn = scpi.identify_and_reset(wire.ask, wire.send, lambda: None, "x")
    assert not idn.is_33500_family and wire.sent == OPEN_SEQUENCE[:-1]


# ---------------------------------------------------------------------------- pulse shape

def test_pulse_shape_of_a_twitch_and_a_train():
    assert scpi.pulse_shape(StimulusSpec(3.6, 0.2)) == (0.0002, 0.1)
    assert scpi.pulse_shape(StimulusSpec(3.6, 0.2, 45, 150.0)) == (0.0002, 1.0 / 150.0)
    assert scpi.BASELINE_SHAPE == (0.0001, 0.1) == (scpi.BASELINE_SHAPE.width_s,
                                                    scpi.BASELINE_SHAPE.period_s)


def test_configure_commands_over_the_baseline_are_the_documented_block():
    spec = StimulusSpec(3.6, 0.2, 45, 150.0)
    commands = scpi.configure_commands(spec, 2.0, scpi.BASELINE_SHAPE)
    assert commands == block("0.0002", "150", "1.8", 45, frequency_first=False)
    assert b"".join(c.encode() + b"\n" for c in commands) == (
        b"OUTP OFF\nFUNC PULS\nOUTP:LOAD INF\nFUNC:PULS:WIDT 0.0002\nFREQ 150\nVOLT:LOW 0\n"
        b"VOLT:HIGH 1.8\nBURS:MODE TRIG\nBURS:NCYC 45\nTRIG:SOUR BUS\nBURS:STAT ON\n"
        b"OUTP:SYNC ON\nOUTP:SYNC:MODE CARR\n")


@pytest.mark.parametrize("old_period_s, frequency_first", [
    (0.1, False),        # 1 ms fits a 100 ms period: width first
    (0.001, True),       # 1 ms does not fit a 1 ms period (equal is a conflict)
    (0.0005, True),      # nor a 0.5 ms one: the new, longer period first
])
def test_the_order_comes_from_the_period_programmed_now(old_period_s, frequency_first):
    programmed = scpi.PulseShape(0.0001, old_period_s)
    commands = scpi.configure_commands(StimulusSpec(1.0, 1.0), 1.0, programmed)
    assert commands == block("0.001", "10", "1", 1, frequency_first=frequency_first)


def test_read_shape_asks_width_then_frequency():
    wire = Wire(**{"FUNC:PULS:WIDT?": ["+2.000000000000000E-04"],
                   "FREQ?": ["+1.500000000000000E+02"]})
    assert scpi.read_shape(wire.ask) == (0.0002, 1.0 / 150.0)
    assert wire.bytes() == b"FUNC:PULS:WIDT?\nFREQ?\n"


def test_read_shape_stops_at_a_bad_width_and_refuses_a_zero_frequency():
    wire = Wire(**{"FUNC:PULS:WIDT?": ["banana"]})
    with pytest.raises(ProtocolError, match="WIDT"):
        scpi.read_shape(wire.ask)
    assert wire.sent == ["FUNC:PULS:WIDT?"]                   # FREQ? never asked
    wire = Wire(**{"FUNC:PULS:WIDT?": ["1E-4"], "FREQ?": ["+0.0E+00"]})
    with pytest.raises(ProtocolError, match="FREQ"):
        scpi.read_shape(wire.ask)


# ---------------------------------------------------------------------------- error queue

def test_drain_errors_reads_until_no_error():
    wire = Wire(**{"SYST:ERR?": ['-222,"Data out of range"', '-221,"Settings conflict"',
                                 NO_ERROR]})
    errors = scpi.drain_errors(wire.ask)
    assert [str(e) for e in errors] == ['-222,"Data out of range"', '-221,"Settings conflict"']
    assert wire.bytes() == b"SYST:ERR?\n" * 3


def test_drain_errors_is_bounded():
    wire = Wire(**{"SYST:ERR?": ['-100,"Command error"'] * 100})
    with pytest.raises(ProtocolError, match="did not empty after 25 reads"):
        scpi.drain_errors(wire.ask)
    assert wire.sent == ["SYST:ERR?"] * (scpi.ERROR_QUEUE_DEPTH + 5)


def test_instrument_error_carries_the_first_entry_and_all_of_them():
    assert scpi.instrument_error([]) is None
    errors = [scpi.parse_error('-222,"Data out of range"'),
              scpi.parse_error('-350,"Queue overflow"')]
    exc = scpi.instrument_error(errors)
    assert isinstance(exc, InstrumentError)
    assert (exc.code, exc.message) == (-222, "Data out of range")
    assert exc.errors == ['-222,"Data out of range"', '-350,"Queue overflow"']


# ---------------------------------------------------------------------------- fire, output

def test_fire_abort_close_and_output_commands_are_byte_exact():
    assert scpi.FIRE == ("OUTP ON", "*TRG") and scpi.TRIGGER == scpi.FIRE[1]
    assert scpi.ABORT == ("ABOR", "OUTP OFF")
    assert scpi.CLOSE == ("OUTP OFF", "ABOR")
    assert (scpi.output_command(True), scpi.output_command(False)) == ("OUTP ON", "OUTP OFF")


@pytest.mark.parametrize("reply", ["1", "+1", "1\n", " +1 "])
def test_check_opc_accepts_one(reply):
    scpi.check_opc(reply)


@pytest.mark.parametrize("reply", ["0", "", "banana", "11"])
def test_check_opc_refuses_anything_else(reply):
    with pytest.raises(ProtocolError, match=r"\*OPC\? answered"):
        scpi.check_opc(reply)


def test_opc_is_allowed_the_stimulus_duration_on_top_of_the_timeout():
    train = StimulusSpec.train(1.0, 0.2, 100, 400)
    assert scpi.opc_timeout_s(1.5, train) == pytest.approx(1.5 + train.duration_ms / 1000.0)
    assert scpi.opc_timeout_s(2.0, StimulusSpec(1.0, 0.2)) == pytest.approx(2.0002)
