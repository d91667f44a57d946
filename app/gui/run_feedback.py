"""What the operator sees of a running protocol in acquire mode, besides its results: the
step and progress under the Run button, the step highlighted in the protocol, the
operator's prompts, and one line per report in the event log (warnings, errors and waits
also in the status bar).

:class:`RunFeedback` handles those events on the GUI thread; the page's dispatch table
(:meth:`~app.gui.acquire_page.AcquirePage.handlers`) sends them here, so the page keeps
only the session's lifecycle (connect, start, end) and the wiring. The terminal's
counterpart is :class:`app.cli.run_display.RunDisplay`.
"""
from __future__ import annotations

from typing import Any, Callable

from app.gui.event_log import EventLog
from app.gui.prompt_panel import PromptPanel
from app.gui.protocol_panel import ProtocolPanel
from app.gui.run_controls import RunControls
from app.live.experiment_events import ExperimentError, StopPressed


class RunFeedback:
    """The runner's (and the model's) reports onto the acquire page's widgets.

    ``say`` is the status bar (the page's ``message`` signal).
    """

    def __init__(self, run_controls: RunControls, protocol_panel: ProtocolPanel,
                 prompt_panel: PromptPanel, log: EventLog, say: Callable[[str], None]) -> None:
        self.run_controls = run_controls
        self.protocol_panel = protocol_panel
        self.prompt_panel = prompt_panel
        self.log = log
        self.say = say

    def stop_pressed(self, ev: StopPressed) -> None:
        self.log.log("STOP: stimulator output off", "warning")
        self.say("STOPPED — stimulator output off")

    def model_error(self, ev: ExperimentError) -> None:
        self.log.log(ev.message, "error")
        self.say(ev.message)

    def state_changed(self, ev: Any) -> None:
        new = getattr(ev.new, "value", ev.new)
        self.run_controls.set_paused(new == "paused")
        self.log.log(f"state: {getattr(ev.old, 'value', ev.old)} → {new}"
                     + (f" ({ev.reason})" if getattr(ev, "reason", "") else ""))

    def step_started(self, ev: Any) -> None:
        self.protocol_panel.highlight_step(ev.index)
        self.run_controls.step_label.setText(f"Step {ev.index + 1}/{ev.count}: {ev.name} ({ev.kind})"
                                             + (f"\n{ev.note}" if ev.note else ""))
        self.run_controls.set_progress(ev.index / max(1, ev.count), f"step {ev.index + 1}/{ev.count} {ev.name}")
        self.log.log(f"step {ev.index + 1}/{ev.count}: {ev.name} ({ev.kind})")

    def step_completed(self, ev: Any) -> None:
        summary = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in (ev.result or {}).items() if not isinstance(v, (list, dict)))
        self.log.log(f"step done: {ev.name}" + (f" — {summary}" if summary else ""))

    def progress(self, ev: Any) -> None:
        within = (ev.done / ev.total) if ev.total else 0.0
        frac = (ev.step_index + min(1.0, within)) / max(1, ev.step_count)
        count = f"{ev.done}/{ev.total}" if ev.total else f"{ev.done}"
        self.run_controls.set_progress(frac, f"step {ev.step_index + 1}/{ev.step_count} {ev.step}: {count}")

    def operator_prompt(self, ev: Any) -> None:
        self.log.log(f"prompt: {ev.text}" + (" (auto)" if ev.auto else ""))
        if ev.auto or self.run_controls.auto_continue.isChecked():
            return
        self.prompt_panel.show_prompt(ev.id, ev.text, ev.requested, ev.default, ev.blocking)

    def prompt_answered(self, ev: Any) -> None:
        if self.prompt_panel.prompt_id == ev.id:
            self.prompt_panel.dismiss()
        self.log.log(f"answered {ev.id}: {ev.value!r}" + (" (auto)" if ev.auto else ""))

    def warning(self, ev: Any) -> None:
        self.log.log(ev.message, "warning")
        self.say(f"Warning: {ev.message}")

    def fire_held(self, ev: Any) -> None:
        """The next stimulus waits for the rig's rules (the rest after a train just before)."""
        self.log.log(ev.message)
        self.say(ev.message)

    def error(self, ev: Any) -> None:
        self.log.log(ev.message, "error")
        self.say(f"Error: {ev.message}")

    def finished(self, ev: Any) -> None:
        """The protocol's end as the runner reports it (the session's end comes after)."""
        done = ev.status == "completed"
        if done:
            self.run_controls.set_progress(1.0, "completed")
        self.log.log(f"finished: {ev.status}" + (f" — {ev.message}" if ev.message else "")
                     + f" ({ev.trials} trials)", "info" if done else "warning")
