"""What the protocol runner tells the world, as typed, immutable events.

The CLI, the GUI, the session and tests are all just subscribers to these; none of
them reaches into the runner. Events are delivered on the runner's worker thread
(or, for state changes caused by ``abort()``, on the caller's thread): a subscriber
that has UI work to do hands the event over to its own thread. A subscriber that
raises is reported and ignored; it never stops a protocol.
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from drivers.subscribers import Subscribers  # noqa: F401  (the one subscriber-list type)


class RunnerState(str, enum.Enum):
    """The runner's state machine::

        IDLE -> RUNNING <-> PAUSED
                RUNNING <-> WAITING_OPERATOR
        (any live state) -> ABORTING -> ABORTED | FAILED
        RUNNING -> COMPLETED
    """

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING_OPERATOR = "waiting-operator"
    ABORTING = "aborting"
    ABORTED = "aborted"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (RunnerState.ABORTED, RunnerState.COMPLETED, RunnerState.FAILED)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all runner events; ``wall_time_s`` is informative only (never stimulus timing)."""

    wall_time_s: float = field(default_factory=time.time)


@dataclass(frozen=True, kw_only=True)
class StateChanged(Event):
    old: RunnerState
    new: RunnerState
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class StepStarted(Event):
    """A step began. ``sample`` is the stream position at that moment, as the recording
    stores it (the sample of the step's ``step-started`` audit entry): one past the newest
    sample the recorder had been offered, so at most one read period (one sample block)
    after the step truly began, and never after its first stimulus. None when the run
    stores to nothing that follows the stream (a dry run's :class:`NullStore`)."""

    index: int              # 0-based position in the protocol
    count: int              # number of steps in the protocol
    name: str
    kind: str
    note: str | None = None
    sample: int | None = None   # stream index where the step began (see above)


@dataclass(frozen=True, kw_only=True)
class StepCompleted(Event):
    """A step finished; ``result`` holds what it found (recruitment curve and working
    current, force-length curve and Lo, fatigue index ...)."""

    index: int
    name: str
    kind: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TrialRecorded(Event):
    """A contraction was stored in the recording (sample indices are stream indices)."""

    trial_index: int
    step_index: int
    step: str
    kind: str                       # 'twitch' | 'tetanus'
    status: str                     # 'completed' | 'aborted'
    start_sample: int
    stop_sample: int
    first_pulse_sample: int | None
    pulses: int                     # trigger edges found in the stream
    requested_pulses: int
    current_mA: float
    pulse_width_ms: float
    frequency_hz: float | None
    length_mm: float | None


@dataclass(frozen=True, kw_only=True)
class TrialAnalysed(Event):
    """Analysis of a recorded trial: ``result`` is ``TrialResult.to_dict()`` (peak_force_mN,
    time_to_peak_ms, half_relaxation_ms, baseline_mN, error, ...)."""

    trial_index: int
    step_index: int
    step: str
    kind: str
    status: str
    current_mA: float
    frequency_hz: float | None
    pulses: int
    length_mm: float | None
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def peak_force_mN(self) -> float | None:
        return _number(self.result.get("peak_force_mN"))

    @property
    def time_to_peak_ms(self) -> float | None:
        return _number(self.result.get("time_to_peak_ms"))

    @property
    def half_relaxation_ms(self) -> float | None:
        return _number(self.result.get("half_relaxation_ms"))


@dataclass(frozen=True, kw_only=True)
class Progress(Event):
    """Where the run is: step ``step_index`` of ``step_count``, item ``done`` of ``total``
    within the step (``total`` None when unknown in advance, as in a supramaximal search).
    ``rest_s`` is set when a rest of that many seconds begins (for countdowns)."""

    step_index: int
    step_count: int
    step: str
    done: int
    total: int | None
    message: str = ""
    trials_done: int = 0
    rest_s: float | None = None     # set when a rest of this length starts


@dataclass(frozen=True, kw_only=True)
class OperatorPrompt(Event):
    """The runner needs the technician. Answer with ``runner.answer(id, value)``.

    ``requested`` names the value asked for (``'length_mm'``, ``'text'``) or is None for
    a plain "continue"; ``default`` is what Enter (or auto-continue) answers. When
    ``blocking`` is False the runner keeps twitching while it waits (optimal length).
    ``auto`` is True when the runner answered it itself (auto-continue); nobody need
    answer. Answering ``None`` to a length request means "done"."""

    id: str
    text: str
    requested: str | None = None
    default: Any = None
    blocking: bool = True
    auto: bool = False


@dataclass(frozen=True, kw_only=True)
class PromptAnswered(Event):
    id: str
    value: Any
    auto: bool = False


@dataclass(frozen=True, kw_only=True)
class RunWarning(Event):
    """Something the operator should know; the run goes on."""

    message: str
    step_index: int | None = None


@dataclass(frozen=True, kw_only=True)
class FireHeld(Event):
    """The next stimulus waits ``wait_s`` for the rig's rules over time: the stimulator's
    fire-time interlock would refuse it now (typically the rest after a train fired just
    before this run, by a run aborted mid-tetanus). ``rule`` is the rule holding it
    (``rest_s``, ``interval_s``, ``rate``, ``duty_cycle``); ``message`` says it in one
    line. The run goes on after the wait; abort and pause act at once meanwhile."""

    wait_s: float
    rule: str
    message: str
    step_index: int | None = None


@dataclass(frozen=True, kw_only=True)
class RunError(Event):
    """The run cannot go on (it is followed by :class:`Finished` with status 'failed')."""

    message: str
    step_index: int | None = None


@dataclass(frozen=True, kw_only=True)
class Finished(Event):
    """The run is over: ``status`` is 'completed', 'aborted' or 'failed'. The stimulator
    output is off when this is emitted."""

    status: str
    message: str = ""
    trials: int = 0


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v else None
