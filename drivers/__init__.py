"""Device drivers for the myoforce rig.

Each device kind has a small capability interface (see :mod:`drivers.capabilities`);
application code depends on those interfaces, never on a concrete driver class.
Transports (``drivers.transports``) own ports; drivers format and parse bytes.
"""
