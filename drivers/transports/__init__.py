"""Transports: the objects that own a port and move bytes, nothing else.

A transport opens the port, turns the port library's failures into the typed errors of
:mod:`drivers.errors`, bounds every read with a timeout and serializes access with a
lock. Drivers (``drivers.amplifier``, ``drivers.stimulator``) format and parse what goes
through it, so a driver can be tested byte-exact against a fake transport.

Modules are imported explicitly (``from drivers.transports.serial_port import
SerialTransport``) so that using one port library never requires the other; this package
itself imports neither, it holds only :class:`CommandTransport`, the contract of a
line-command transport as its drivers rely on it.
"""
from __future__ import annotations

import threading
from typing import Protocol


class CommandTransport(Protocol):
    """A line-command transport (``visa.VisaTransport`` or a test double): one command or
    query per line, the lock that serializes them, and an urgent write that bypasses the
    lock (an emergency stop while another thread waits for a reply)."""

    @property
    def lock(self) -> threading.RLock: ...

    def write(self, command: str) -> None: ...

    def query(self, command: str, timeout_s: float | None = None) -> str: ...

    def write_urgent(self, command: str) -> None: ...

    def close(self) -> None: ...
