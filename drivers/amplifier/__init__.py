"""The serial force amplifier: frame codec, command channel and driver.

``frames`` and ``commands`` are pure byte work (tested byte-exact); ``driver`` puts them on
a :class:`~drivers.transports.serial_port.SerialTransport`. The wire contract is section 2
of docs/wire-protocols.md.
"""
from drivers.amplifier.driver import SerialForceAmplifier
from drivers.amplifier.frames import FrameParser, ParseResult, crc8, encode_frames

__all__ = ["SerialForceAmplifier", "FrameParser", "ParseResult", "crc8", "encode_frames"]
