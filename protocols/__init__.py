"""Experiment protocols: the file format (``schema``), reading and checking files
(``loader``, ``validation``), the runner's events (``events``) and the engine that runs a
protocol on a rig (``engine``). Protocol 1 of the study lives in ``library/``.

Qt-free: the CLI and the GUI are both subscribers of the runner's events.
"""
from pathlib import Path

from protocols.loader import ProtocolFileError, load_protocol, parse_protocol, validate_protocol
from protocols.schema import ProtocolSpec

#: the protocol files shipped with myoforce
LIBRARY = Path(__file__).parent / "library"

__all__ = ["ProtocolFileError", "load_protocol", "parse_protocol", "validate_protocol",
           "ProtocolSpec", "LIBRARY"]
