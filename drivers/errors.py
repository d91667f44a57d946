"""Typed device errors.

Every failure that crosses a driver boundary is one of these, so callers can react
to the kind of failure (retry a timeout, stop a protocol on a disconnect, show the
instrument's own message for a device error) without parsing strings.
"""
from __future__ import annotations


class DeviceError(Exception):
    """Base class of every error raised by a driver or transport."""


class DeviceNotFound(DeviceError):
    """The port or resource does not exist or cannot be opened."""


class DeviceTimeout(DeviceError):
    """A read did not complete within its timeout."""


class DeviceDisconnected(DeviceError):
    """The device went away (port closed, socket reset, USB unplugged)."""


class ProtocolError(DeviceError):
    """The device sent bytes that do not follow the documented wire protocol."""


class InstrumentError(DeviceError):
    """The instrument reported an error of its own; ``code`` and ``message`` are its words."""

    def __init__(self, code: int, message: str, command: str | None = None) -> None:
        self.code = code
        self.message = message
        self.command = command
        where = f" (after {command!r})" if command else ""
        super().__init__(f"instrument error {code}: {message}{where}")


class LimitError(DeviceError):
    """A stimulus request exceeds the rig's safety limits; nothing was sent."""


class TimelineLimitError(LimitError):
    """A fire refused by the stimulator's fire-time interlock (drivers/fire_ledger.py):
    it would break a rule over time (rest after a train, interval between single pulses,
    mean pulse rate, duty cycle). ``rule`` names it (``rest_s``, ``interval_s``, ``rate``,
    ``duty_cycle``), ``value`` and ``limit`` are in the rule's unit; nothing was sent and
    the output stays off."""

    def __init__(self, rule: str, value: float, limit: float, message: str) -> None:
        self.rule = rule
        self.value = value
        self.limit = limit
        super().__init__(message)


class StimulusAborted(DeviceError):
    """A stimulator operation was interrupted by ``abort()`` from another thread; the output is off."""


class BufferOverrun(DeviceError):
    """The device's buffer overflowed (input) or ran dry (output): samples were lost or
    the output would have repeated old samples. The acquisition cannot continue."""


class ConfigurationError(DeviceError):
    """A device configuration the hardware cannot do (a channel that does not exist, a
    range or rate beyond the board, an output in use). ``field`` names the rig-file field
    at fault; nothing was started or stimulated."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
