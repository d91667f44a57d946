"""The protocol engine: a runner (state machine on a worker thread) and one module per
step kind, all delivering stimuli through one shared trial helper. Steps and the
helper reach the runner only through the named surfaces in :mod:`protocols.engine.context`.

Typical use (the session does this; see :class:`app.session.ExperimentSession`)::

    runner = ProtocolRunner(protocol, rig, store=store, auto_continue=True)
    runner.subscribe(print)
    runner.start()            # the amplifier must already be streaming
    finished = runner.wait()
"""
from protocols.engine.context import StepHost, TrialHost
from protocols.engine.interrupts import RunAborted, RunFailed, RunInterrupted
from protocols.engine.runner import ProtocolRunner, default_analyzer
from protocols.engine.stream import StreamBuffer
from protocols.engine.trial import NullStore, RecordedTrial, TrialStore

__all__ = ["ProtocolRunner", "default_analyzer", "StreamBuffer", "RecordedTrial", "TrialStore",
           "NullStore", "StepHost", "TrialHost", "RunAborted", "RunFailed", "RunInterrupted"]
