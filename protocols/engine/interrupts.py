"""How a running step is stopped: exceptions raised at the runner's check points.

Steps never catch these; the shared trial helper catches them only long enough to
switch the output off and store the interrupted trial, then re-raises.
"""
from __future__ import annotations


class RunInterrupted(Exception):
    """The run must stop now; the message says why (shown to the technician)."""


class RunAborted(RunInterrupted):
    """The operator (or the CLI's Ctrl-C) asked to abort."""


class RunFailed(RunInterrupted):
    """Something went wrong that makes continuing unsafe or pointless: a device error, a
    lost amplifier stream, a recorder that cannot write."""
