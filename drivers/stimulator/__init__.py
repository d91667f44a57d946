"""Nerve stimulator: a Keysight 33500-series generator driving a stimulus isolator, over SCPI.

``scpi`` formats and parses the wire text (docs/wire-protocols.md section 1),
``switch_off`` holds the best-effort switch-off and its ``OUTP?`` confirmation, ``driver``
holds :class:`ScpiStimulator`, the :class:`~drivers.capabilities.Stimulator` the rest of
the application uses.
"""
from drivers.stimulator.driver import ScpiStimulator, StimulusAborted

__all__ = ["ScpiStimulator", "StimulusAborted"]
