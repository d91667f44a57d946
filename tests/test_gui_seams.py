"""Typed seams of the GUI: the test double and the real session satisfy one Protocol, and
events reach their handlers by type, never by class name."""
from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass

import pytest

from app.live.experiment import ProtocolSession
from app.live.experiment_events import ExperimentError, RigConnected, SessionEnded, StopPressed
from app.session import ExperimentSession
from protocols import events as rev
from tests.gui_fakes import FakeSession

pytestmark = pytest.mark.gui

MEMBERS = [name for name, v in vars(ProtocolSession).items()
           if callable(v) and not name.startswith("_")]


def _conforms(cls: type, proto: type) -> list[str]:
    """Problems of ``cls`` against ``proto``: every member present, callable, accepting
    the protocol's parameters (names and defaults) and returning what it promises."""
    problems = []
    for name in MEMBERS:
        want = inspect.signature(getattr(proto, name))
        have_attr = getattr(cls, name, None)
        if not callable(have_attr):
            problems.append(f"{cls.__name__}.{name} missing")
            continue
        have = inspect.signature(have_attr)
        for p in list(want.parameters.values())[1:]:
            q = have.parameters.get(p.name)
            if q is None:
                problems.append(f"{cls.__name__}.{name} lacks parameter {p.name}")
            elif (p.default is not inspect.Parameter.empty) and q.default is inspect.Parameter.empty:
                problems.append(f"{cls.__name__}.{name}: {p.name} must be optional")
        required = [q for q in list(have.parameters.values())[1:]
                    if q.default is inspect.Parameter.empty
                    and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD) and q.name not in want.parameters]
        if required:
            problems.append(f"{cls.__name__}.{name} requires extra {[q.name for q in required]}")
        want_ret = typing.get_type_hints(getattr(proto, name)).get("return")
        have_ret = typing.get_type_hints(have_attr, globalns=vars(inspect.getmodule(cls)) | vars(rev)).get("return")
        if want_ret is not None and have_ret != want_ret:
            problems.append(f"{cls.__name__}.{name} returns {have_ret}, not {want_ret}")
    return problems


@pytest.mark.parametrize("cls", [ExperimentSession, FakeSession])
def test_real_session_and_double_conform_to_one_protocol(cls):
    assert MEMBERS and {"run", "answer", "abort", "subscribe"} <= set(MEMBERS)
    assert _conforms(cls, ProtocolSession) == []


def test_the_check_catches_a_drifted_double():
    class Drifted:                              # what FakeSession was: run() -> None, abort()
        def subscribe(self, cb): return lambda: None
        def run(self) -> None: return None
        def pause(self) -> None: ...
        def resume(self) -> None: ...
        def answer(self, prompt_id, value) -> None: ...
        def abort(self) -> None: ...
    problems = _conforms(Drifted, ProtocolSession)
    assert any("run returns" in p for p in problems)
    assert any("abort lacks parameter reason" in p for p in problems)
    assert any("value must be optional" in p for p in problems)


def test_fake_session_run_returns_the_finished_event(tmp_path):
    from tests.gui_fakes import fake_rig
    s = FakeSession(protocol=None, rig=fake_rig(), out_path=tmp_path / "x.h5", metadata=None,
                    trials=1, prompt=False)
    assert isinstance(s, ProtocolSession)
    finished = s.run()
    assert isinstance(finished, rev.Finished) and finished.status == "completed"


def test_events_are_dispatched_by_type_not_by_name(qtbot):
    from app.gui.acquire_page import AcquirePage
    page = AcquirePage()
    qtbot.addWidget(page)
    try:
        table = page.handlers()
        assert all(isinstance(k, type) for k in table)
        assert {RigConnected, SessionEnded, StopPressed, ExperimentError, rev.Finished,
                rev.TrialAnalysed, rev.OperatorPrompt, rev.RunWarning} <= set(table)

        @dataclass(frozen=True, kw_only=True)
        class Renamed(rev.Finished):            # a subclass under another name still arrives
            pass
        page.on_event(Renamed(status="aborted", trials=3))
        assert page.finished_status == "aborted"

        @dataclass(frozen=True, kw_only=True)
        class Finished(rev.Event):              # same NAME, unrelated type: not dispatched
            status: str = "completed"
        page.on_event(Finished(status="hijacked"))
        assert page.finished_status == "aborted"

        page.on_event(ExperimentError("abort: device gone"))   # the model's own events, by type
        page.on_event(StopPressed("STOP pressed"))
        assert page.log.lines[-2].endswith("✖ abort: device gone")
        assert page.log.lines[-1].endswith("⚠ STOP: stimulator output off")
    finally:
        page.shutdown()
