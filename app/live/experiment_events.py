"""The experiment model's own events (not the protocol runner's), one type per event.

:class:`~app.live.experiment.Experiment` emits these to its listeners alongside the
runner's events (:mod:`protocols.events`), on whatever thread they happen. A listener
dispatches on the type (napari style), so renaming an event cannot silently
disconnect its handler; every one is a :class:`Status`, whose ``kind`` is a label for
logs and tests, never something to dispatch on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Status:
    """Base of the experiment model's events: ``message`` for the operator, ``detail``
    for the code that needs more (which, is said by each subclass)."""

    kind: ClassVar[str] = "status"
    message: str = ""
    detail: Any = None


@dataclass(frozen=True)
class RigConnected(Status):
    """A rig was attached: ``message`` describes its devices, ``detail`` is the rig."""

    kind: ClassVar[str] = "connected"


@dataclass(frozen=True)
class RigDisconnected(Status):
    """The rig was released (output off, stream stopped, devices closed)."""

    kind: ClassVar[str] = "disconnected"


@dataclass(frozen=True)
class MonitorChanged(Status):
    """Idle streaming into the live view began (``message`` 'live') or ended ('stopped')."""

    kind: ClassVar[str] = "monitor"


@dataclass(frozen=True)
class SessionStarted(Status):
    """A session was started: ``message`` is its output path, ``detail`` the session."""

    kind: ClassVar[str] = "session-started"


@dataclass(frozen=True)
class SessionEnded(Status):
    """The session's thread ended: ``message`` is its status (or the error), ``detail``
    the output path."""

    kind: ClassVar[str] = "session-ended"


@dataclass(frozen=True)
class StopPressed(Status):
    """STOP: the stimulator abort was sent and the session told to abort."""

    kind: ClassVar[str] = "stop"


@dataclass(frozen=True)
class ExperimentError(Status):
    """Something failed outside the runner (the session's thread, an abort, an
    auto-continue answer): ``message`` is one line, ``detail`` the exception."""

    kind: ClassVar[str] = "error"
