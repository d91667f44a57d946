"""What a step sees of the runner: stimuli at the right current, trials, rests, prompts.

A step module is a plain function ``run(ctx, step) -> None`` that talks only to this
object, so each step kind reads as the procedure it implements and the runner keeps
all threading, state and safety in one place. The context itself reaches the runner
only through :class:`~protocols.engine.host.StepHost`, a named surface the runner
implements: a step cannot set run state except by the calls listed there.
"""
from __future__ import annotations

import time
from typing import Any

from drivers.capabilities import LengthControl, StimulusSpec
from drivers.errors import DeviceError
from drivers.limits import StimulusLimits
from protocols.engine.host import StepHost
from protocols.engine.interrupts import RunFailed
from protocols.engine.trial import deliver
from protocols.events import Progress, RunWarning
from protocols.schema import StepBase


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
                       post_ms=post_ms, warn=self.warn)

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
