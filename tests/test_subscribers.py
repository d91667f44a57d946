"""The one subscriber-list type (drivers.subscribers.Subscribers) used by stream
producers, the runner and the session."""
from __future__ import annotations

import logging

from drivers.subscribers import Subscribers
from protocols import events


def test_runner_events_use_the_same_type() -> None:
    assert events.Subscribers is Subscribers


def test_emit_calls_every_subscriber_in_order_and_a_failure_is_counted_and_logged(caplog) -> None:
    subs = Subscribers("test")
    seen: list[tuple[str, int]] = []

    def broken(value: int) -> None:
        raise RuntimeError("boom")

    subs.add(lambda v: seen.append(("a", v)))
    subs.add(broken)
    subs.add(lambda v: seen.append(("c", v)))
    with caplog.at_level(logging.ERROR):
        subs.emit(1)
        subs.emit(2)
    assert seen == [("a", 1), ("c", 1), ("a", 2), ("c", 2)]
    assert subs.errors == 2
    assert sum("test subscriber" in r.getMessage() for r in caplog.records) == 2


def test_on_error_replaces_the_log_line(caplog) -> None:
    failures: list[tuple[str, int]] = []
    subs = Subscribers("test", on_error=lambda exc, v: failures.append((str(exc), v)))
    subs.add(lambda v: 1 / 0)
    with caplog.at_level(logging.ERROR):
        subs.emit(7)
    assert failures == [("division by zero", 7)] and subs.errors == 1
    assert not caplog.records


def test_unsubscribe_removes_that_subscription_only() -> None:
    subs = Subscribers("test")
    seen: list[int] = []
    append = seen.append
    first = subs.add(append)
    subs.add(append)
    first()
    first()                                  # idempotent: the second stays
    subs.emit(3)
    assert seen == [3]


def test_a_subscriber_added_during_emit_sees_the_next_value() -> None:
    subs = Subscribers("test")
    late: list[int] = []
    subs.add(lambda v: subs.add(late.append) if v == 1 else None)
    subs.emit(1)
    assert late == []
    subs.emit(2)
    assert late == [2]
