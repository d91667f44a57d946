"""What a step may do to the runner: two small, named surfaces the runner implements.

Steps (``protocols/engine/steps``) talk to a :class:`~protocols.engine.context.StepContext`;
the context and the trial helper (:func:`protocols.engine.trial.deliver`) talk to the
runner only through these protocols, never through its attributes. So the runner's
threading, state and safety stay private, every change a step makes to run state is a
named call (``set_length_mm``, ``set_working_current_mA``), and a test double of the
runner needs nothing but what is listed here (``tests/test_protocol_runner.py`` checks
that :class:`~protocols.engine.runner.ProtocolRunner` satisfies both).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from drivers.capabilities import LengthControl, Stimulator
from drivers.limits import StimulusLimits
from protocols.engine.interrupts import RunInterrupted
from protocols.engine.stream import StreamBuffer
from protocols.events import Event, TrialAnalysed
from protocols.schema import ProtocolSpec

if TYPE_CHECKING:
    from app.recording import Recording, Trial
    from protocols.engine.trial import RecordedTrial

Analyzer = Callable[["Recording", "Trial"], Any]


@runtime_checkable
class TrialHost(Protocol):
    """What delivering one stimulus needs: the stimulator, the stream, stop checks, and
    where the trial goes."""

    @property
    def protocol(self) -> ProtocolSpec: ...

    @property
    def stimulator(self) -> Stimulator: ...

    @property
    def stream(self) -> StreamBuffer:
        """The runner's window on the amplifier stream (read it; the amplifier fills it)."""

    @property
    def sample_rate_hz(self) -> float: ...

    @property
    def length_mm(self) -> float | None:
        """The muscle length the next trial is stored with."""

    @property
    def analyzer(self) -> Analyzer | None: ...

    def check(self) -> None:
        """Raise :class:`RunInterrupted` if the run must stop."""

    def checkpoint(self) -> None:
        """Between trials: stop if asked, wait here while paused."""

    def wait_for_sample(self, sample: int) -> None:
        """Wait for the stream to reach ``sample``; raise if interrupted or silent."""

    def device_failure(self, device: str, exc: BaseException) -> RunInterrupted: ...

    def emergency_off(self) -> None: ...

    def next_trial_index(self) -> int: ...

    def store_trial(self, trial: "RecordedTrial") -> None: ...

    def emit(self, event: Event) -> None: ...

    def record_analysis(self, event: TrialAnalysed) -> None: ...


@runtime_checkable
class StepHost(TrialHost, Protocol):
    """All a step may do to the runner (through its context): the trial surface, plus
    rig facts, run state changes, time, the audit log and the technician."""

    @property
    def auto_continue(self) -> bool: ...

    @property
    def limits(self) -> StimulusLimits: ...

    @property
    def length_control(self) -> LengthControl | None: ...

    @property
    def working_current_mA(self) -> float | None: ...

    @property
    def trials_done(self) -> int: ...

    def cap_current(self, current_mA: float, pulse_width_ms: float) -> float: ...

    def set_length_mm(self, length_mm: float) -> None: ...

    def set_working_current_mA(self, current_mA: float) -> None: ...

    def sleep_until(self, deadline: float) -> None: ...

    def audit(self, kind: str, message: str, **fields: Any) -> None: ...

    def ask(self, text: str, *, requested: str | None = None, default: Any = None,
            prompt_id: str | None = None) -> Any: ...

    def ask_nowait(self, text: str, *, requested: str | None = None,
                   default: Any = None) -> str: ...

    def poll_answer(self, prompt_id: str) -> tuple[bool, Any]: ...

    def cancel_prompt(self, prompt_id: str) -> None: ...
