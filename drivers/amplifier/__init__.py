"""The serial force amplifier: frame codec, command channel and driver.

``frames`` and ``commands`` are pure byte work (tested byte-exact); ``driver`` puts them on
a :class:`~drivers.transports.serial_port.SerialTransport`. The wire contract is section 2
of docs/wire-protocols.md.

The names below are imported on first use (PEP 562): reading a session file needs
``frames`` (the ADC full scale) but not the driver and pyserial.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drivers.amplifier.driver import SerialForceAmplifier
    from drivers.amplifier.frames import FrameParser, ParseResult, crc8, encode_frames

_MODULE = {"SerialForceAmplifier": "driver", "FrameParser": "frames", "ParseResult": "frames",
           "crc8": "frames", "encode_frames": "frames"}
__all__ = list(_MODULE)


def __getattr__(name: str) -> Any:
    if name not in _MODULE:
        raise AttributeError(f"module 'drivers.amplifier' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"drivers.amplifier.{_MODULE[name]}"), name)
    globals()[name] = value
    return value
