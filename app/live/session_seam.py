"""What :class:`~app.live.experiment.Experiment` needs of a protocol session, and what it
lends one: the connected rig, minus the right to close it.

The GUI keeps one rig connection across sessions (live trace, tare, the next run) while
each session owns "its" rig and closes it when it ends; :class:`BorrowedRig` is the view
that makes both true. :class:`ProtocolSession` is the only surface ``Experiment`` uses,
so the GUI tests' double and the real session can be checked against one type.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from drivers.capabilities import Rig
from protocols.events import Finished


@runtime_checkable
class ProtocolSession(Protocol):
    """What :class:`~app.live.experiment.Experiment` needs of a session: the seam the GUI tests' double
    (``tests/gui_fakes.FakeSession``) and :class:`app.session.ExperimentSession` both
    satisfy (``tests/test_gui_seams.py`` checks both against this).

    Built by a factory called with keywords ``protocol, rig, out_path, metadata,
    auto_continue`` (and the GUI's extras); ``run`` blocks on the session's own thread.
    """

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]: ...

    def run(self) -> Finished: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def answer(self, prompt_id: str, value: Any = None) -> Any: ...

    def abort(self, reason: str = "aborted by the operator") -> None: ...


@dataclass
class BorrowedRig(Rig):
    """The connected rig lent to one session.

    A session owns its rig and closes it when it ends; the GUI keeps its connection
    across sessions (live trace, tare, the next run), so what the session gets is this
    view of the same devices whose ``close()`` only switches the stimulator output off.
    """

    @classmethod
    def of(cls, rig: Rig) -> "BorrowedRig":
        return cls(stimulator=rig.stimulator, amplifier=rig.amplifier, length=rig.length,
                   description=dict(rig.description))

    def close(self) -> None:
        self.stimulator.abort()


def default_session_factory(*, protocol: Any, rig: Rig, out_path: Path, metadata: Any,
                             **kw: Any) -> Any:
    """The real :class:`app.session.ExperimentSession` (imported on first use, as the
    rig modules are in ``Experiment``)."""
    from app.session import ExperimentSession
    return ExperimentSession(protocol, rig, out_path, metadata, **kw)
