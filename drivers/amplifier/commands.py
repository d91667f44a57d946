"""The force amplifier's ASCII command channel: exact bytes out, typed values back.

Section 2.1 of docs/wire-protocols.md. Everything here is pure string work so it can be
tested byte-exact; the driver only sends what :func:`format_command` returns and hands
every reply line to :func:`parse_reply` and a value parser. A device error becomes
:class:`InstrumentError` with the device's own code and words; anything that is not a
well-formed reply becomes :class:`ProtocolError` naming the command and the line.
"""
from __future__ import annotations

import math
import re

from drivers.capabilities import Calibration
from drivers.errors import InstrumentError, ProtocolError

#: Sample rates the device accepts (``RATE <hz>``).
RATES_HZ = (1000, 2000, 5000, 10000, 20000, 50000, 100000)
#: Largest ``TARE <n>``.
TARE_MAX_SAMPLES = 100000

ERROR_UNKNOWN_COMMAND = 1
ERROR_BAD_ARGUMENT = 2
ERROR_STREAMING = 3
ERROR_BUFFER_OVERFLOW = 4
ERROR_OVER_RANGE = 5

_KEYWORD = re.compile(r"^[A-Z*][A-Z0-9?*]*$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


def format_number(value: int | float) -> str:
    """A number as the device reads it: integers plainly, floats with round-trip digits."""
    if isinstance(value, bool):
        raise ValueError("a number is required, not a bool")
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot send a non-finite number ({value})")
    return repr(value)


def format_command(keyword: str, *args: int | float) -> bytes:
    """The exact bytes of one command line, e.g. ``format_command("CAL", 0.002, 15.5)``
    -> ``b"CAL 0.002 15.5\\n"``."""
    if not _KEYWORD.match(keyword):
        raise ValueError(f"not a command keyword: {keyword!r}")
    parts = [keyword, *(format_number(a) for a in args)]
    return (" ".join(parts) + "\n").encode("ascii")


def _show(line: str, limit: int = 60) -> str:
    return repr(line if len(line) <= limit else line[:limit] + "...")


def parse_reply(line: str, command: str) -> str:
    """The payload of an ``OK`` reply (``""`` for a bare ``OK``).

    Raises InstrumentError for ``ERR <code> <message>``, ProtocolError for anything else."""
    line = line.rstrip("\r\n")
    if not _PRINTABLE.match(line):
        raise ProtocolError(f"unreadable reply to {command!r}: {_show(line)} "
                            "(binary data: is the device streaming, or not a force amplifier?)")
    if line == "OK":
        return ""
    if line.startswith("OK "):
        return line[3:]
    if line.startswith("ERR "):
        code, _, message = line[4:].partition(" ")
        try:
            number = int(code)
        except ValueError:
            raise ProtocolError(f"malformed error reply to {command!r}: {_show(line)}") from None
        raise InstrumentError(number, message.strip() or "(no message)", command)
    raise ProtocolError(f"unexpected reply to {command!r}: {_show(line)}")


def parse_int(payload: str, what: str) -> int:
    try:
        return int(payload.strip())
    except ValueError:
        raise ProtocolError(f"{what}: expected an integer, got {_show(payload)}") from None


def parse_float(payload: str, what: str) -> float:
    try:
        value = float(payload.strip())
    except ValueError:
        raise ProtocolError(f"{what}: expected a number, got {_show(payload)}") from None
    if not math.isfinite(value):
        raise ProtocolError(f"{what}: expected a finite number, got {_show(payload)}")
    return value


def parse_identity(payload: str) -> str:
    """``<manufacturer>,<model>,<serial>,<firmware>``; anything else is not our device."""
    fields = payload.split(",")
    if len(fields) != 4 or not all(f.strip() for f in fields):
        raise ProtocolError(f"*IDN? answer {_show(payload)} is not "
                            "'<manufacturer>,<model>,<serial>,<firmware>'")
    return payload


def parse_rate(payload: str) -> int:
    rate = parse_int(payload, "RATE?")
    if rate not in RATES_HZ:
        raise ProtocolError(f"RATE?: {rate} Hz is not one of the documented rates")
    return rate


def parse_calibration(payload: str) -> Calibration:
    """``<scale_mN_per_count> <offset_counts>``."""
    parts = payload.split()
    if len(parts) != 2:
        raise ProtocolError(f"CAL?: expected '<scale> <offset>', got {_show(payload)}")
    scale = parse_float(parts[0], "CAL? scale")
    offset = parse_float(parts[1], "CAL? offset")
    if not scale > 0:
        raise ProtocolError(f"CAL?: scale must be positive, got {scale!r}")
    return Calibration(scale_mN_per_count=scale, offset_counts=offset)


def parse_status(payload: str) -> dict[str, str | int]:
    """``state=<idle|streaming> rate=<hz> overflows=<n>`` as a dict (integers converted)."""
    out: dict[str, str | int] = {}
    for item in payload.split():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ProtocolError(f"STAT?: expected key=value items, got {_show(payload)}")
        out[key] = int(value) if re.fullmatch(r"-?\d+", value) else value
    for key in ("state", "rate", "overflows"):
        if key not in out:
            raise ProtocolError(f"STAT?: missing {key}= in {_show(payload)}")
    return out


def parse_error(payload: str) -> tuple[int, str]:
    """``<code> <message>`` of ``ERR?``; code 0 means no error."""
    code, _, message = payload.strip().partition(" ")
    return parse_int(code, "ERR?"), message.strip()


def check_calibration(calibration: Calibration) -> None:
    """Refuse a calibration the device would reject, before anything is sent."""
    scale, offset = calibration.scale_mN_per_count, calibration.offset_counts
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"calibration scale must be a positive number, got {scale!r}")
    if not math.isfinite(offset):
        raise ValueError(f"calibration offset must be a finite number, got {offset!r}")
