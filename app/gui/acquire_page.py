"""Acquire mode: rig, subject, protocol and run controls on the left; the live trace,
the latest contraction, force–frequency and the results table on the right.

This module wires widgets to the Qt-free :class:`~app.live.experiment.Experiment`:
clicks become model calls (device I/O on worker threads), and the model's events (the
protocol runner's, delivered on its worker thread) come back through ONE queued signal
per event (:class:`~app.gui.bridge.EventBridge`), never one per sample. The results
(table and plots, updated a frame apart) are :class:`~app.gui.live_results.LiveResults`;
the run's progress, prompts and log lines :class:`~app.gui.run_feedback.RunFeedback`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from app.errors import UserError
from app.gui.acquire_layout import (arrange, display_column, results_tabs, setup_column,
                                   setup_tabs, trace_with_comments)
from app.gui.bridge import EventBridge, run_in_thread
from app.gui.comment_box import CommentBox
from app.gui.event_log import EventLog
from app.gui.live_results import LiveResults
from app.gui.live_view import LiveView
from app.gui.metadata_form import MetadataForm, subject_tab_name
from app.gui.prompt_panel import PromptPanel
from app.gui.protocol_panel import ProtocolPanel, default_protocol_path
from app.gui.rig_panel import RigPanel
from app.gui.run_controls import RunControls
from app.gui.run_feedback import RunFeedback
from app.gui.simulated_rig_restart import SimulatedRigRestart
from app.gui.study_picker import StudyPicker
from app.live.experiment import Experiment
from app.live.experiment_events import (ExperimentError, RigConnected, RigDisconnected,
                                        SessionEnded, StopPressed)
from protocols import events as rev


class AcquirePage(QWidget):
    """Everything a technician needs to run a protocol."""

    message = Signal(str)          # for the status bar
    running_changed = Signal(bool)

    def __init__(self, experiment: Experiment | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.experiment = experiment or Experiment()
        self.experiment.metadata_field_name = subject_tab_name   # the plan's messages
        self.bridge = EventBridge(self)
        self.bridge.event.connect(self.on_event)
        self.experiment.subscribe(self.bridge.post)
        self.session_factory = None      # tests may inject one
        self.last_output: Path | None = None
        self.finished_status: str | None = None
        self._running = False

        # the widgets (app/gui/acquire_layout.py arranges them)
        self.rig_panel = RigPanel()
        self.metadata_form = MetadataForm()
        self.protocol_panel = ProtocolPanel()
        self.run_controls = RunControls()
        self.study_picker = StudyPicker()
        self.setup_tabs = setup_tabs(self.rig_panel, self.study_picker, self.metadata_form,
                                     self.protocol_panel)
        self.prompt_panel = PromptPanel()
        self.live_view = LiveView(self.experiment.ring)
        self.comment_box = CommentBox()
        self.results = LiveResults(self.experiment.ring, self)
        self.trial_overlay = self.results.overlay
        self.ff_plot = self.results.ff_plot
        self.results_table = self.results.table
        self.log = EventLog()
        self.feedback = RunFeedback(self.run_controls, self.protocol_panel, self.prompt_panel,
                                    self.log, self.message.emit)
        self._handlers = self.handlers()    # the results' and the feedback's handlers too
        self.sim_restart = SimulatedRigRestart(self.experiment, self.log, self.rig_panel.status,
                                               self.message.emit, self._after_connect,
                                               self._rig_failed)
        self.bottom_tabs = results_tabs(self.results_table, self.log)
        arrange(self, setup_column(self.setup_tabs, self.run_controls),
                display_column(self.prompt_panel, trace_with_comments(self.live_view, self.comment_box),
                               self.trial_overlay,
                               self.ff_plot, self.bottom_tabs))

        # wiring
        self.rig_panel.connect_requested.connect(self.connect_rig)
        self.rig_panel.disconnect_requested.connect(self.disconnect_rig)
        self.rig_panel.tare_requested.connect(self.tare)
        self.rig_panel.calibrate_requested.connect(self.calibrate)
        self.rig_panel.monitor_requested.connect(self.set_monitor)
        self.run_controls.run_requested.connect(self.run_protocol)
        self.run_controls.pause_requested.connect(self.experiment.pause)
        self.run_controls.resume_requested.connect(self.experiment.resume)
        self.run_controls.abort_requested.connect(self.stop)
        self.run_controls.auto_continue.toggled.connect(self.experiment.set_auto_continue)
        self.prompt_panel.answered.connect(self.experiment.answer)
        self.metadata_form.changed.connect(self._subject_changed)
        self.protocol_panel.runnable_changed.connect(self._update_run_enabled)
        self.study_picker.chosen.connect(self._study_animal)
        self.comment_box.submitted.connect(self.add_comment)
        self.comment_shortcut = self.comment_box.install_shortcut(self)
        default = default_protocol_path()
        if default.exists():
            self.protocol_panel.load(default)

    @property
    def running(self) -> bool:
        """True from Run until the GUI has handled the end of the session."""
        return self._running

    # --- rig ---
    def connect_rig(self, spec: dict) -> None:
        exp = self.experiment
        source = spec.get("source")
        study = self._study_run()    # a simulated rig starts as the study's animal
        self.sim_restart.muscle_note = None   # and with the panel's muscle (Run says if another)
        if source == "sim":
            from app.rig.simulated import SimRigSpec
            sim = SimRigSpec(spec.get("kind") or "serial", spec.get("muscle") or "rat-edl")
            job = lambda: exp.connect_sim(sim, study=study)  # noqa: E731
        elif source == "file":
            if not spec.get("path"):
                self._rig_failed(ValueError("choose a rig file"))
                return
            job = lambda: exp.connect_rig_file(spec["path"], study=study)  # noqa: E731
        else:
            job = lambda: exp.connect_ports(spec.get("amplifier", ""), spec.get("stimulator", ""))  # noqa: E731
        self.log.log(f"connecting: {spec}")
        run_in_thread(job, lambda _rig: self._after_connect(), self._rig_failed, name="myoforce-connect")

    def _study_run(self, out: Path | None = None) -> Any:
        """The study session a run into ``out`` (default: the output file shown) is."""
        return self.study_picker.link_for(out or self.run_controls.output.path)

    def _after_connect(self) -> None:
        # show the force at once: stream while idle
        self.rig_panel.live_button.setChecked(True)

    def _rig_failed(self, exc: BaseException) -> None:
        self.rig_panel.set_connected(self.experiment.connected, f"Connection failed: {exc}")
        self.log.log(f"connection failed: {exc}", "error")
        self.message.emit(f"Connection failed: {exc}")

    def disconnect_rig(self) -> None:
        self.rig_panel.status.setText("Disconnecting…")
        run_in_thread(self.experiment.disconnect, on_error=self._device_error)

    def set_monitor(self, on: bool) -> None:
        exp = self.experiment
        if not exp.connected or exp.running:
            if on and not exp.connected:
                self._refuse("Connect a rig first (Rig tab).", tab=0)
            return
        run_in_thread(exp.start_monitor if on else exp.stop_monitor, on_error=self._device_error)

    def tare(self) -> None:
        run_in_thread(self.experiment.tare, lambda cal: self.log.log(f"tared: offset {cal.offset_counts:g} counts"),
                      self._device_error)

    def calibrate(self, mass_g: float) -> None:
        self.log.log(f"calibrating with {mass_g:g} g …")
        run_in_thread(lambda: self.experiment.calibrate_with_mass(mass_g),
                      lambda cal: self.log.log(f"calibrated: {cal.scale_mN_per_count:.6g} mN/count"),
                      self._device_error)

    def _device_error(self, exc: BaseException) -> None:
        self.run_controls.show_notice(str(exc))
        self.log.log(str(exc), "error")
        self.message.emit(str(exc))

    def _study_animal(self, metadata: dict, out: Path) -> None:
        """An animal picked from a study: its metadata, the study's file for it."""
        self.metadata_form.set_values({name: None for name in self.metadata_form.editors})
        self.metadata_form.set_values(metadata)
        self.run_controls.output.set_path(out)
        study = self._study_run(out)
        if not self.experiment.connected:
            return
        try:
            muscle = self.sim_restart.session_muscle(self.metadata_form.raw_values(), study)
        except UserError as exc:                # the study's muscle is not simulated
            self._refuse(str(exc))
            return
        self.sim_restart.restart_for(study, muscle)

    def _subject_changed(self) -> None:
        out = self.run_controls.output
        if out.auto and out.edit.text() and not self._running:
            out.suggest(self.metadata_form.raw_values().get("subject_id"))

    # --- run ---
    def run_protocol(self) -> bool:
        """Validate everything, then start; False (with the reason shown) if anything is
        missing. A simulated rig not yet started as this run's study animal (or as no
        study's) is restarted first, and the run starts once it is (True meanwhile)."""
        exp = self.experiment
        if not exp.connected:
            return self._refuse("Connect a rig first (Rig tab).", tab=0)
        subject = self.metadata_form.raw_values().get("subject_id")
        if not subject:
            self._refuse("Enter the subject ID first (Subject tab).", tab=1)
            self.metadata_form.editors["subject_id"].setFocus()
            return False
        try:
            metadata = self.metadata_form.metadata()
        except ValidationError:
            return self._refuse("Fix the subject metadata: " + "; ".join(self.metadata_form.validate()), tab=1)
        protocol = self.protocol_panel.protocol
        if protocol is None:
            return self._refuse("Open a protocol first (Protocol tab).", tab=2)
        try:
            muscle = self.sim_restart.session_muscle(metadata, self._study_run())
        except UserError as exc:
            return self._refuse(f"Could not start: {exc}", tab=1)
        if self.sim_restart.restart_for(self._study_run(), muscle, then=self.run_protocol):
            self.run_controls.show_notice("Starting the simulated rig for this run…")
            return True                       # Run again once it is connected
        out = self.run_controls.output.checked_path(getattr(metadata, "subject_id", None))
        if out is None:
            return self._refuse("Choose another output file.")
        self._clear_results()
        try:
            panel = self.protocol_panel
            exp.start(protocol, out, metadata, auto_continue=self.run_controls.auto_continue.isChecked(),
                      session_factory=self.session_factory, protocol_text=panel.protocol_text,
                      protocol_source=panel.path.name if panel.path else "protocol",
                      study=self._study_run(out))
        except Exception as exc:  # UserError, DeviceError, limits: one line
            return self._refuse(f"Could not start: {exc}")
        self.last_output = out
        self.run_controls.show_notice("")
        self.finished_status = None
        self._set_running(True)
        self.setup_tabs.setCurrentWidget(self.protocol_panel)   # follow the steps
        self.log.log(f"running {getattr(protocol, 'name', 'protocol')} → {out}")
        self.message.emit(f"Running {getattr(protocol, 'name', 'protocol')} → {out}")  # replaces a refusal
        return True

    def add_comment(self, text: str) -> bool:
        """Record an operator comment at the current sample (the core checks the text and
        that a run is recording); refused: the reason in the box, the log and status bar."""
        try:
            c = self.experiment.add_comment(text)
        except UserError as exc:
            self.comment_box.refused(str(exc))
            self.log.log(f"comment not saved: {exc}", "warning")
            self.message.emit(f"Comment not saved: {exc}")
            return False
        self.comment_box.accepted()
        self.log.log(f"comment at {c.time_s(self.experiment.ring.sample_rate_hz):.2f} s: {c.text}")
        return True

    def _refuse(self, text: str, tab: int | None = None) -> bool:
        """Say why the action cannot run now: under the Run button (where the operator
        just looked), in the status bar and the log; show the tab to fix it in."""
        if tab is not None:
            self.setup_tabs.setCurrentIndex(tab)
        self.run_controls.show_notice(text)
        self.log.log(text, "warning")
        self.message.emit(text)
        return False

    def stop(self) -> None:
        """STOP / Esc / Abort: stimulator off at once, protocol aborted, file kept."""
        self.experiment.stop()
        self.prompt_panel.dismiss()

    def _update_run_enabled(self, *_: Any) -> None:
        """Run only for a protocol the connected rig's rules accept (shown in the panel)."""
        self.run_controls.run_button.setEnabled(not self._running and self.protocol_panel.runnable)

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.run_controls.set_running(running)
        self._update_run_enabled()
        self.protocol_panel.set_running(running)
        self.rig_panel.set_busy(running)
        self.running_changed.emit(running)

    def _clear_results(self) -> None:
        self.results.clear()
        self.run_controls.set_progress(0.0, "starting")

    # --- events (GUI thread) ---
    def handlers(self) -> dict[type, Any]:
        """Event type -> handler: dispatch by type, so renaming an event class cannot
        silently disconnect its handler (an unknown name fails at import)."""
        fb = self.feedback                   # the run's reports (app/gui/run_feedback.py)
        return {RigConnected: self._on_connected, RigDisconnected: self._on_disconnected,
                SessionEnded: self._on_session_ended, StopPressed: fb.stop_pressed,
                ExperimentError: fb.model_error, rev.StateChanged: fb.state_changed,
                rev.StepStarted: self._on_step_started, rev.StepCompleted: fb.step_completed,
                rev.Progress: fb.progress, rev.TrialRecorded: self.results.trial_recorded,
                rev.TrialAnalysed: self.results.trial_analysed, rev.OperatorPrompt: fb.operator_prompt,
                rev.PromptAnswered: fb.prompt_answered, rev.RunWarning: fb.warning,
                rev.FireHeld: fb.fire_held, rev.RunError: fb.error, rev.Finished: self._on_finished}

    def on_event(self, ev: Any) -> None:
        table = self._handlers
        for cls in type(ev).__mro__:          # subclasses reach their base's handler
            handler = table.get(cls)
            if handler is not None:
                handler(ev)
                return

    def _on_connected(self, ev: RigConnected) -> None:
        self.protocol_panel.set_rig(self.experiment.rig_settings)   # the rig's own rules
        note = self.sim_restart.muscle_note
        self.rig_panel.set_connected(True, ev.message + (f"\n{note[:1].upper()}{note[1:]}"
                                                         if note else ""))
        self.live_view.set_ring(self.experiment.ring)
        aux = self.experiment.aux_ring
        self.live_view.set_aux_source(aux if aux.channels else None)
        self.log.log(f"connected: {ev.message}")
        self.message.emit("Rig connected")

    def _on_disconnected(self, ev: RigDisconnected) -> None:
        self.protocol_panel.set_rig(None)
        self.rig_panel.set_connected(False, "Not connected")
        self.log.log("rig disconnected")

    def _on_session_ended(self, ev: SessionEnded) -> None:
        self.results.flush()
        self._set_running(False)
        self.prompt_panel.dismiss()
        status = self.finished_status or ev.message or "ended"
        self.run_controls.set_progress(None, f"{status}")
        self.log.log(f"session ended ({status}); file: {ev.detail}")
        self.study_picker.session_ended(self.last_output, status)
        self.message.emit(f"Protocol {status}. Saved {ev.detail}")
        nxt = self.run_controls.output.propose_next(self.metadata_form.raw_values().get("subject_id"))
        if nxt is not None:
            self.log.log(f"next file: {nxt}")
        if self.rig_panel.live_button.isChecked() and self.experiment.connected:
            run_in_thread(self.experiment.start_monitor, on_error=self._device_error)

    def _on_step_started(self, ev: Any) -> None:
        self.results.step_started(ev.index, ev.kind)
        self.feedback.step_started(ev)

    def _on_finished(self, ev: Any) -> None:
        self.finished_status = ev.status
        self.feedback.finished(ev)

    def flush_deferred(self) -> None:
        """Run all pending plot updates now (tests, screenshots)."""
        self.results.flush()

    # --- teardown ---
    def shutdown(self) -> None:
        """Abort, wait for the file to be closed, release the rig."""
        self.live_view.timer.stop()
        self.experiment.close()

