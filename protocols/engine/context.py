"""What a step sees of the runner: stimuli at the right current, trials, rests, prompts.

A step module is a plain function ``run(ctx, step) -> None`` that talks only to a
:class:`StepContext`, so each step kind reads as the procedure it implements and the
runner keeps all threading, state and safety in one place.

The context and the trial helper (:func:`protocols.engine.trial.deliver`) reach the
runner only through two small, named surfaces the runner implements: :class:`TrialHost`
(what delivering one stimulus needs) and :class:`StepHost` (that, plus rig facts, run
state changes, time, the audit log and the technician). So a step changes run state
only by a listed call (``set_length_mm``, ``set_working_current_mA``), and a test
double of the runner needs nothing more (``tests/test_step_surface.py`` checks that
:class:`~protocols.engine.runner.ProtocolRunner` satisfies both, and that steps, the
context and ``deliver`` use nothing else).
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from drivers.capabilities import LengthControl, Stimulator, StimulusSpec
from drivers.errors import DeviceError
from drivers.limits import StimulusLimits
from protocols.engine.interrupts import RunFailed, RunInterrupted
from protocols.engine.stream import StreamView
from protocols.engine.trial import Delivered, deliver, deliver_measured
from protocols.events import Event, Progress, RunWarning, TrialAnalysed
from protocols.schema import ProtocolSpec, StepBase

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
    def stream(self) -> StreamView:
        """The runner's window on the amplifier stream (read only; the amplifier fills it)."""

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

    def hold_fire(self, spec: StimulusSpec) -> None:
        """Before configuring ``spec``: wait out a short hold of the stimulator's
        fire-time rules (abort and pause act at once); raise if interrupted."""

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

    def audit(self, kind: str, message: str, **fields: Any) -> int | None: ...

    def ask(self, text: str, *, requested: str | None = None, default: Any = None,
            prompt_id: str | None = None) -> Any: ...

    def ask_nowait(self, text: str, *, requested: str | None = None,
                   default: Any = None) -> str: ...

    def poll_answer(self, prompt_id: str) -> tuple[bool, Any]: ...

    def cancel_prompt(self, prompt_id: str) -> None: ...


class StepContext:
    """One step's handle on the runner."""

    def __init__(self, host: StepHost, index: int) -> None:
        self._host = host
        self.index = index
        self.protocol = host.protocol
        self.step: StepBase = host.protocol.steps[index]
        self.name = host.protocol.step_name(index)
        self.kind = self.step.kind
        self.result: dict[str, Any] = {}
        self._capped_warned = False
        self._last_fire_s = math.nan

    # --- facts --------------------------------------------------------------------------
    @property
    def auto_continue(self) -> bool:
        return self._host.auto_continue

    @property
    def limits(self) -> StimulusLimits:
        return self._host.limits

    @property
    def length_control(self) -> LengthControl | None:
        return self._host.length_control

    @property
    def length_mm(self) -> float | None:
        return self._host.length_mm

    def pulse_width_ms(self) -> float:
        return getattr(self.step, "pulse_width_ms", None) or self.protocol.pulse_width_ms

    def current_mA(self) -> float:
        """The step's own ``current_mA``, else the working current, within the rig limits.

        The working current is capped when it was found with a shorter pulse than this
        step's (charge per phase); that is reported once per step."""
        explicit = getattr(self.step, "current_mA", None)
        if explicit is not None:
            return float(explicit)
        working = self._host.working_current_mA
        if working is None:
            raise RunFailed(f"{self.where}: no working current (no supramaximal step has run "
                            f"and the protocol gives no current_mA)")
        capped = self._host.cap_current(working, self.pulse_width_ms())
        if capped < working and not self._capped_warned:
            self._capped_warned = True
            self.warn(f"working current {working:g} mA capped to {capped:g} mA by the rig "
                      f"limits at {self.pulse_width_ms():g} ms")
        return capped

    @property
    def where(self) -> str:
        from protocols.validation import step_location
        return f"step {step_location(self.protocol, self.index)}"

    # --- stimuli --------------------------------------------------------------------------
    def twitch_spec(self, current_mA: float | None = None) -> StimulusSpec:
        return StimulusSpec(self.current_mA() if current_mA is None else current_mA,
                            self.pulse_width_ms())

    def train_spec(self, frequency_hz: float, duration_ms: float) -> StimulusSpec:
        return StimulusSpec.train(self.current_mA(), self.pulse_width_ms(), frequency_hz, duration_ms)

    def cap_current(self, current_mA: float) -> float:
        """``current_mA`` within the rig limits at this step's pulse width."""
        return self._host.cap_current(current_mA, self.pulse_width_ms())

    def deliver(self, spec: StimulusSpec, *, post_ms: float | None = None) -> float:
        """Deliver one stimulus, store its trial and return its peak force (mN): the
        analysis' Pt/Po, or a simple estimate when analysis has none (NaN if neither);
        see :mod:`protocols.engine.trial`."""
        return deliver(self._host, spec, step=self.name, step_index=self.index,
                       post_ms=post_ms, warn=self.warn, on_fire=self._fired)

    @property
    def last_fire_s(self) -> float:
        """``time.monotonic()`` when this step last told the stimulator to fire (NaN
        before its first): where a start-to-start interval starts, as the stimulator's
        fire-time interlock counts it (drivers/fire_ledger.py)."""
        return self._last_fire_s

    def _fired(self, monotonic_s: float) -> None:
        self._last_fire_s = monotonic_s

    def deliver_measured(self, spec: StimulusSpec, *, post_ms: float | None = None) -> Delivered:
        """:meth:`deliver`, with the reason to doubt the peak (a flag concerning it, or a
        quality refusal): for steps that decide on the peak (the supramaximal search)."""
        return deliver_measured(self._host, spec, step=self.name, step_index=self.index,
                                post_ms=post_ms, warn=self.warn, on_fire=self._fired)

    # --- time ---------------------------------------------------------------------------
    def rest(self, seconds: float, message: str | None = None) -> None:
        """Rest for ``seconds``; pause and abort respond at once (time paused counts as rest)."""
        if seconds <= 0:
            self._host.check()
            return
        done, total = getattr(self, "_progress", (0, None))
        self.progress(done, total, message or f"rest {seconds:g} s", rest_s=seconds)
        self._host.sleep_until(time.monotonic() + seconds)

    def rest_until(self, deadline: float) -> None:
        """Rest until ``time.monotonic()`` reaches ``deadline`` (start-to-start intervals)."""
        self._host.sleep_until(deadline)

    # --- reporting --------------------------------------------------------------------------
    def progress(self, done: int, total: int | None, message: str = "", *,
                 rest_s: float | None = None) -> None:
        self._progress = (done, total)
        self._host.emit(Progress(step_index=self.index, step_count=len(self.protocol.steps),
                                  step=self.name, done=done, total=total, message=message,
                                  trials_done=self._host.trials_done, rest_s=rest_s))

    def warn(self, message: str) -> None:
        self._host.emit(RunWarning(message=message, step_index=self.index))
        self.log("warning", message)

    def log(self, kind: str, message: str, **fields: Any) -> None:
        self._host.audit(kind, message, step=self.name, step_index=self.index, **fields)

    # --- the technician -------------------------------------------------------------------
    def ask(self, text: str, *, requested: str | None = None, default: Any = None,
            prompt_id: str | None = None) -> Any:
        """Ask and wait for the answer (auto-continue answers ``default`` at once)."""
        return self._host.ask(text, requested=requested, default=default, prompt_id=prompt_id)

    def ask_nowait(self, text: str, *, requested: str | None = None, default: Any = None) -> str:
        """Ask without waiting (stimulation goes on); poll with :meth:`poll_answer`."""
        return self._host.ask_nowait(text, requested=requested, default=default)

    def poll_answer(self, prompt_id: str) -> tuple[bool, Any]:
        return self._host.poll_answer(prompt_id)

    def cancel_prompt(self, prompt_id: str) -> None:
        self._host.cancel_prompt(prompt_id)

    def set_length(self, length_mm: float, *, source: str) -> None:
        """Record (and, with a length control, set) the muscle length for the next trials."""
        control = self.length_control
        if control is not None:
            try:
                control.set_length_mm(float(length_mm))
            except DeviceError as exc:
                raise self._host.device_failure("length control", exc) from exc
        self._host.set_length_mm(float(length_mm))
        self.log("length", f"muscle length {length_mm:g} mm ({source})", length_mm=float(length_mm),
                 source=source, set_by_rig=control is not None)

    def set_working_current(self, current_mA: float) -> None:
        """The current later steps use when they give none (a supramaximal search's result)."""
        self._host.set_working_current_mA(float(current_mA))
