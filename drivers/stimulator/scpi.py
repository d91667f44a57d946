"""The SCPI of the nerve stimulator (Keysight 33500-series subset), as pure functions.

Formatting a stimulus into command strings and parsing replies is kept free of I/O so the
exact bytes the driver sends can be tested against docs/wire-protocols.md section 1
without an instrument, and so the same text is what the audit log records. The
multi-message exchanges (opening, draining ``SYST:ERR?``, reading back the programmed
shape) take the query and send as functions: the driver passes its own (abort-checked,
audited), a test a recorder.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

from drivers.capabilities import StimulusSpec
from drivers.errors import DeviceError, DeviceNotFound, InstrumentError, ProtocolError

#: A single pulse is a 1-cycle burst; its repetition rate only has to leave room for the width.
TWITCH_FREQUENCY_HZ = 10.0

#: Output level of the safe baseline programmed at open: harmless even if triggered.
BASELINE_VOLTS = 0.01
BASELINE_WIDTH_S = 1e-4

OUTPUT_ON = "OUTP ON"
OUTPUT_OFF = "OUTP OFF"
TRIGGER = "*TRG"
FIRE = (OUTPUT_ON, TRIGGER)
OPC = "*OPC?"
ABORT = ("ABOR", OUTPUT_OFF)
#: close: output off first, always, then stop any burst
CLOSE = (OUTPUT_OFF, "ABOR")
#: opening, after ``*IDN?``: off, then a known state whatever was left on the instrument
RESET = (OUTPUT_OFF, "*RST", "*CLS")
OUTPUT_QUERY = "OUTP?"
ERROR_QUERY = "SYST:ERR?"
IDN_QUERY = "*IDN?"
WIDTH_QUERY = "FUNC:PULS:WIDT?"
FREQUENCY_QUERY = "FREQ?"

#: The instrument holds at most this many errors; draining stops after a few more.
ERROR_QUEUE_DEPTH = 20


def format_number(value: float) -> str:
    """A SCPI <NRf>: shortest decimal with up to 9 significant digits, exponent as ``E``.

    ``0.0002`` stays ``0.0002``; ``5e-05`` becomes ``5E-05``. Non-finite values are a bug
    upstream (limits are checked first) and are refused rather than sent.
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot send a non-finite number to the instrument: {value!r}")
    if value == 0:
        return "0"
    return f"{value:.9g}".upper()


def burst_frequency_hz(spec: StimulusSpec) -> float:
    """Pulse repetition rate programmed for ``spec``: the train's rate, or the twitch rate."""
    if spec.pulses > 1 and spec.frequency_hz:
        return float(spec.frequency_hz)
    return TWITCH_FREQUENCY_HZ


def output_volts(current_mA: float, isolator_gain_mA_per_V: float) -> float:
    """Stimulator output level that makes the isolator deliver ``current_mA``."""
    return float(current_mA) / float(isolator_gain_mA_per_V)


def shape_commands(width_s: float, frequency_hz: float, volts: float, pulses: int, *,
                   frequency_first: bool = False) -> list[str]:
    """The configuration block of section 1.2, output switched off first.

    The 33500 refuses (``-221 Settings conflict``) a pulse width that does not fit in the
    current period, at every intermediate step. Width goes first when the new width fits
    the period already programmed; otherwise (``frequency_first``) the new, longer period
    goes first. Either order is conflict-free when the caller picks it from the old period.
    """
    width = f"FUNC:PULS:WIDT {format_number(width_s)}"
    freq = f"FREQ {format_number(frequency_hz)}"
    return [
        "OUTP OFF",
        "FUNC PULS",
        "OUTP:LOAD INF",
        *((freq, width) if frequency_first else (width, freq)),
        "VOLT:LOW 0",
        f"VOLT:HIGH {format_number(volts)}",
        "BURS:MODE TRIG",
        f"BURS:NCYC {int(pulses)}",
        "TRIG:SOUR BUS",
        "BURS:STAT ON",
        "OUTP:SYNC ON",
        "OUTP:SYNC:MODE CARR",
    ]


def stimulus_commands(spec: StimulusSpec, isolator_gain_mA_per_V: float, *,
                      frequency_first: bool = False) -> list[str]:
    """Commands that program ``spec`` (limits must already have been checked)."""
    return shape_commands(spec.pulse_width_ms / 1000.0, burst_frequency_hz(spec),
                          output_volts(spec.current_mA, isolator_gain_mA_per_V), spec.pulses,
                          frequency_first=frequency_first)


def baseline_commands() -> list[str]:
    """The safe state programmed at open: a 100 us, 10 mV single pulse, output off."""
    return shape_commands(BASELINE_WIDTH_S, TWITCH_FREQUENCY_HZ, BASELINE_VOLTS, 1)


def open_commands() -> list[str]:
    """Everything opening sends after ``*IDN?`` and before draining the error queue."""
    return [*RESET, *baseline_commands()]


def identify_and_reset(ask: Callable[[str], str], send: Callable[[str], None],
                       raise_queued_errors: Callable[[], None], name: str) -> tuple[str, Identity]:
    """The opening of section 1.2: ``*IDN?``, :func:`open_commands`, an empty error queue.

    Returns the ``*IDN?`` reply and its parse. A device that is not a 33500 and fails the
    setup is most likely not a generator at all (a wrong address, the amplifier), so that
    failure is :class:`DeviceNotFound` naming ``name``, the resource."""
    reply = ask(IDN_QUERY)
    idn = parse_identity(reply)
    try:
        for command in open_commands():
            send(command)
        raise_queued_errors()
    except DeviceError as exc:
        if idn.is_33500_family:
            raise
        raise DeviceNotFound(
            f"{name} answers *IDN? with {reply!r}, not a 33500-series "
            f"generator, and its setup failed ({exc}): is this the stimulator?"
        ) from exc
    return reply, idn


def output_command(on: bool) -> str:
    return OUTPUT_ON if on else OUTPUT_OFF


# ---------------------------------------------------------------------------- pulse shape

class PulseShape(NamedTuple):
    """Width and period the instrument holds: what decides the order of the next block."""

    width_s: float
    period_s: float


#: the shape :func:`baseline_commands` leaves programmed
BASELINE_SHAPE = PulseShape(BASELINE_WIDTH_S, 1.0 / TWITCH_FREQUENCY_HZ)


def pulse_shape(spec: StimulusSpec) -> PulseShape:
    """The width and period :func:`stimulus_commands` programs for ``spec``."""
    return PulseShape(spec.pulse_width_ms / 1000.0, 1.0 / burst_frequency_hz(spec))


def configure_commands(spec: StimulusSpec, isolator_gain_mA_per_V: float,
                       programmed: PulseShape) -> list[str]:
    """The block that programs ``spec`` over the shape ``programmed`` now, in the order
    that never makes the width overlap the period (see :func:`shape_commands`): the
    frequency first when the new width does not fit the old period."""
    frequency_first = pulse_shape(spec).width_s >= programmed.period_s
    return stimulus_commands(spec, isolator_gain_mA_per_V, frequency_first=frequency_first)


def read_shape(ask: Callable[[str], str]) -> PulseShape:
    """Ask width, then frequency (a driver that lost track after a failed configure)."""
    width = parse_number(ask(WIDTH_QUERY), WIDTH_QUERY)
    freq = parse_number(ask(FREQUENCY_QUERY), FREQUENCY_QUERY)
    if not freq > 0:
        raise ProtocolError(f"{FREQUENCY_QUERY} answered {freq!r}")
    return PulseShape(width, 1.0 / freq)


# ---------------------------------------------------------------------------- replies

@dataclass(frozen=True)
class ScpiError:
    """One entry of the instrument's error queue."""

    code: int
    message: str

    @property
    def is_error(self) -> bool:
        return self.code != 0

    def __str__(self) -> str:
        return f'{self.code:+d},"{self.message}"'


_ERROR_RE = re.compile(r'^\s*([+-]?\d+)\s*,\s*(?:"((?:[^"]|"")*)"|(.*?))\s*$')


def parse_error(reply: str) -> ScpiError:
    """Parse a ``SYST:ERR?`` reply: ``-113,"Undefined header"``; ``+0,"No error"``."""
    m = _ERROR_RE.match(reply)
    if not m:
        raise ProtocolError(f"malformed SYST:ERR? reply: {reply!r}")
    quoted, bare = m.group(2), m.group(3)
    message = quoted.replace('""', '"') if quoted is not None else bare
    return ScpiError(int(m.group(1)), message)


def drain_errors(ask: Callable[[str], str]) -> list[ScpiError]:
    """Read ``SYST:ERR?`` until ``+0``; bounded, so a broken device cannot loop us."""
    errors: list[ScpiError] = []
    for _ in range(ERROR_QUEUE_DEPTH + 5):
        entry = parse_error(ask(ERROR_QUERY))
        if not entry.is_error:
            return errors
        errors.append(entry)
    raise ProtocolError(f"the error queue did not empty after {len(errors)} reads "
                        f"(last: {errors[-1]})")


def instrument_error(errors: Sequence[ScpiError]) -> InstrumentError | None:
    """The error a drained queue raises: the first entry's code and message, every entry
    as the instrument wrote it in ``.errors``; None for an empty queue."""
    if not errors:
        return None
    first = errors[0]
    exc = InstrumentError(first.code, first.message)
    exc.errors = [str(e) for e in errors]  # type: ignore[attr-defined]
    return exc


def opc_timeout_s(timeout_s: float, spec: StimulusSpec) -> float:
    """How long the ``*OPC?`` after ``*TRG`` may take: a real 33500 counts a triggered
    burst as a pending operation and may answer only when the burst is over, so the
    stimulus' duration on top of the usual timeout."""
    return timeout_s + spec.duration_ms / 1000.0


def check_opc(reply: str) -> None:
    """``*OPC?`` must answer 1."""
    if reply.strip() not in ("1", "+1"):
        raise ProtocolError(f"*OPC? answered {reply!r}, expected 1")


@dataclass(frozen=True)
class Identity:
    """A parsed ``*IDN?`` reply."""

    manufacturer: str
    model: str
    serial: str
    firmware: str

    def __str__(self) -> str:
        return ",".join((self.manufacturer, self.model, self.serial, self.firmware))

    @property
    def is_33500_family(self) -> bool:
        """True for the 33500/33600 generators whose SCPI this driver speaks."""
        return bool(re.match(r"^(33[56]\d\d)", self.model))


def parse_identity(reply: str) -> Identity:
    """Parse ``<manufacturer>,<model>,<serial>,<firmware>``."""
    fields = [f.strip() for f in reply.strip().split(",")]
    if len(fields) != 4 or not fields[0] or not fields[1]:
        raise ProtocolError(f"malformed *IDN? reply (want 4 comma-separated fields): {reply!r}")
    return Identity(*fields)


def parse_number(reply: str, what: str) -> float:
    """A numeric query reply (``+1.500000000000000E+02``)."""
    try:
        value = float(reply.strip())
    except ValueError:
        raise ProtocolError(f"{what}: expected a number, got {reply!r}") from None
    if not math.isfinite(value):
        raise ProtocolError(f"{what}: expected a finite number, got {reply!r}")
    return value


def parse_bool(reply: str, what: str) -> bool:
    """A boolean query reply (``0``/``1``)."""
    text = reply.strip()
    if text in ("0", "+0"):
        return False
    if text in ("1", "+1"):
        return True
    raise ProtocolError(f"{what}: expected 0 or 1, got {reply!r}")
