"""Transports: the objects that own a port and move bytes, nothing else.

A transport opens the port, turns the port library's failures into the typed errors of
:mod:`drivers.errors`, bounds every read with a timeout and serializes access with a
lock. Drivers (``drivers.amplifier``, ``drivers.stimulator``) format and parse what goes
through it, so a driver can be tested byte-exact against a fake transport.

Modules are imported explicitly (``from drivers.transports.serial_port import
SerialTransport``) so that using one port library never requires the other.
"""
