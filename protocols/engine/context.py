"""What a step sees of the runner: stimuli at the right current, trials, rests, prompts.

A step module is a plain function ``run(ctx, step) -> None`` that talks only to this
object, so each step kind reads as the procedure it implements and the runner keeps
all threading, state and safety in one place.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from drivers.capabilities import LengthControl, StimulusSpec
from drivers.errors import DeviceError
from protocols.engine.interrupts import RunFailed
from protocols.engine.trial import TrialOutcome, deliver
from protocols.events import Progress, RunWarning
from protocols.schema import StepBase

if TYPE_CHECKING:
    from protocols.engine.runner import ProtocolRunner


class StepContext:
    """One step's handle on the runner."""

    def __init__(self, runner: "ProtocolRunner", index: int) -> None:
        self.runner = runner
        self.index = index
        self.protocol = runner.protocol
        self.step: StepBase = runner.protocol.steps[index]
        self.name = runner.protocol.step_name(index)
        self.kind = self.step.kind
        self.result: dict[str, Any] = {}
        self._capped_warned = False

    # --- facts --------------------------------------------------------------------------
    @property
    def auto_continue(self) -> bool:
        return self.runner.auto_continue

    @property
    def limits(self):
        return self.runner.limits

    @property
    def length_control(self) -> LengthControl | None:
        return self.runner.rig.length

    @property
    def length_mm(self) -> float | None:
        return self.runner.length_mm

    def pulse_width_ms(self) -> float:
        return getattr(self.step, "pulse_width_ms", None) or self.protocol.pulse_width_ms

    def current_mA(self) -> float:
        """The step's own ``current_mA``, else the working current, within the rig limits.

        The working current is capped when it was found with a shorter pulse than this
        step's (charge per phase); that is reported once per step."""
        explicit = getattr(self.step, "current_mA", None)
        if explicit is not None:
            return float(explicit)
        working = self.runner.working_current_mA
        if working is None:
            raise RunFailed(f"{self.where}: no working current (no supramaximal step has run "
                            f"and the protocol gives no current_mA)")
        capped = self.runner.cap_current(working, self.pulse_width_ms())
        if capped < working and not self._capped_warned:
            self._capped_warned = True
            self.warn(f"working current {working:g} mA capped to {capped:g} mA by the rig "
                      f"limits at {self.pulse_width_ms():g} ms")
        return capped

    @property
    def where(self) -> str:
        from protocols.validation import step_location
        return f"step {step_location(self.runner.protocol, self.index)}"

    # --- stimuli --------------------------------------------------------------------------
    def twitch_spec(self, current_mA: float | None = None) -> StimulusSpec:
        return StimulusSpec(self.current_mA() if current_mA is None else current_mA,
                            self.pulse_width_ms())

    def train_spec(self, frequency_hz: float, duration_ms: float) -> StimulusSpec:
        return StimulusSpec.train(self.current_mA(), self.pulse_width_ms(), frequency_hz, duration_ms)

    def deliver(self, spec: StimulusSpec, *, post_ms: float | None = None) -> TrialOutcome:
        """Deliver one stimulus and store its trial (see :mod:`protocols.engine.trial`)."""
        return deliver(self, spec, post_ms=post_ms)

    # --- time ---------------------------------------------------------------------------
    def rest(self, seconds: float, message: str | None = None) -> None:
        """Rest for ``seconds``; pause and abort respond at once (time paused counts as rest)."""
        if seconds <= 0:
            self.runner.check()
            return
        done, total = getattr(self, "_progress", (0, None))
        self.progress(done, total, message or f"rest {seconds:g} s", rest_s=seconds)
        self.runner.sleep_until(time.monotonic() + seconds)

    def rest_until(self, deadline: float) -> None:
        """Rest until ``time.monotonic()`` reaches ``deadline`` (start-to-start intervals)."""
        self.runner.sleep_until(deadline)

    # --- reporting --------------------------------------------------------------------------
    def progress(self, done: int, total: int | None, message: str = "", *,
                 rest_s: float | None = None) -> None:
        self._progress = (done, total)
        self.runner.emit(Progress(step_index=self.index, step_count=len(self.protocol.steps),
                                  step=self.name, done=done, total=total, message=message,
                                  trials_done=self.runner.trials_done, rest_s=rest_s))

    def warn(self, message: str) -> None:
        self.runner.emit(RunWarning(message=message, step_index=self.index))
        self.log("warning", message)

    def log(self, kind: str, message: str, **fields: Any) -> None:
        self.runner.audit(kind, message, step=self.name, step_index=self.index, **fields)

    # --- the technician -------------------------------------------------------------------
    def ask(self, text: str, *, requested: str | None = None, default: Any = None,
            prompt_id: str | None = None) -> Any:
        """Ask and wait for the answer (auto-continue answers ``default`` at once)."""
        return self.runner.ask(text, requested=requested, default=default, prompt_id=prompt_id)

    def ask_nowait(self, text: str, *, requested: str | None = None, default: Any = None) -> str:
        """Ask without waiting (stimulation goes on); poll with :meth:`poll_answer`."""
        return self.runner.ask_nowait(text, requested=requested, default=default)

    def poll_answer(self, prompt_id: str) -> tuple[bool, Any]:
        return self.runner.poll_answer(prompt_id)

    def cancel_prompt(self, prompt_id: str) -> None:
        self.runner.cancel_prompt(prompt_id)

    def set_length(self, length_mm: float, *, source: str) -> None:
        """Record (and, with a length control, set) the muscle length for the next trials."""
        control = self.length_control
        if control is not None:
            try:
                control.set_length_mm(float(length_mm))
            except DeviceError as exc:
                raise self.runner.device_failure("length control", exc) from exc
        self.runner.length_mm = float(length_mm)
        self.log("length", f"muscle length {length_mm:g} mm ({source})", length_mm=float(length_mm),
                 source=source, set_by_rig=control is not None)
