"""Qt-free control of the rig and of the protocol sessions run on it, for the GUI.

:class:`Experiment` is the model behind acquire mode (napari-style: the Qt layer only
shows it and forwards clicks). It owns the connected :class:`~drivers.capabilities.Rig`,
the :class:`~app.live.ring_buffer.RingBuffer` the amplifier streams into, and the
running :class:`app.session.ExperimentSession`. Its listeners get the protocol runner's
events plus typed events of its own (:mod:`app.live.experiment_events`, all
:class:`Status`), on whatever thread they happen: the GUI bridges them to its thread
with one queued signal per event.

The rig half (connection, ring buffers, monitoring, tare, calibration, listeners) is
:class:`~app.live.rig_connection.RigConnection`; this module adds the sessions.

:meth:`Experiment.stop` is the STOP button: callable from any thread at any time, it
aborts the runner and switches the stimulator output off at once, each on its own path
so neither can hold the other up.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from app.live import protocol_marks
from app.live.experiment_events import (ExperimentError, SessionEnded, SessionStarted,
                                        Status, StopPressed)  # noqa: F401  (Status: re-exported)
from app.live.rig_connection import (STANDARD_GRAVITY, Listener,  # noqa: F401  (re-exported)
                                     RigConnection)
from app.live.session_seam import (BorrowedRig, ProtocolSession,  # noqa: F401  (re-exported)
                                   default_session_factory)
from drivers.capabilities import Rig
from protocols.events import Finished, OperatorPrompt, StepStarted, TrialRecorded


class Experiment(RigConnection):
    """One rig, its live stream, and at most one session at a time."""

    def __init__(self, ring_seconds: float = 120.0, sample_rate_hz: float = 10_000.0) -> None:
        super().__init__(ring_seconds, sample_rate_hz)
        self.session_path: Path | None = None
        self.last_status: str | None = None
        self._session_thread: threading.Thread | None = None
        self._auto_continue = False
        self._marks = protocol_marks.ProtocolMarks()
        #: how the plan's messages name a metadata field (``muscle`` -> the words the
        #: operator sees, given by the shell); None: the core's ("metadata muscle")
        self.metadata_field_name: Callable[[str], str] | None = None

    @property
    def running(self) -> bool:
        return self.session is not None

    # --- sessions ---
    def plan(self, protocol: Any, out_path: str | Path, metadata: Any, *,
             protocol_source: str = "protocol", protocol_text: str | None = None,
             overwrite: bool | None = None, study: Any = None) -> Any:
        """The core's run plan for this rig (:func:`app.run_plan.make_plan`): the same
        checks, and the same messages, as ``myoforce run``. Raises PlanRefused."""
        from app.run_plan import RunRequest, make_plan
        self._require_rig()
        out = Path(out_path)
        return make_plan(RunRequest(
            rig=self.rig_settings, out=out, metadata=metadata, protocol=protocol,
            protocol_text=protocol_text, protocol_source=protocol_source,
            overwrite=out.exists() if overwrite is None else overwrite,  # the GUI asked first
            study_muscle=study.muscle if study is not None else None, **self._field_naming()))

    def muscle_for(self, metadata: Any, study: Any = None) -> Any:
        """The muscle a session with ``metadata`` (for ``study``, a StudySession, or None)
        records and, on a simulated rig, must simulate: the run plan's rule
        (:func:`app.run_plan.muscle_choice`), asked before Run restarts the simulated
        rig with it. A :class:`app.session_muscle.MuscleChoice`, or UserError."""
        from app.run_plan import RunRequest, muscle_choice
        self._require_rig()
        return muscle_choice(RunRequest(rig=self.rig_settings, out="", metadata=metadata,
                                        study_muscle=study.muscle if study is not None else None,
                                        **self._field_naming()))

    def _field_naming(self) -> dict[str, Any]:
        """The RunRequest keyword naming metadata fields the shell's way, if it set one."""
        name = self.metadata_field_name
        return {} if name is None else {"metadata_field_name": name}

    def start(self, protocol: Any, out_path: str | Path, metadata: Any, *,
              auto_continue: bool = False, session_factory: Callable[..., Any] | None = None,
              protocol_source: str = "protocol", study: Any = None,
              **session_kwargs: Any) -> Any:
        """Start running ``protocol`` into ``out_path``; returns at once (no device I/O here:
        safe to call from the GUI thread). The session runs on its own thread.

        Nothing starts unless the run plan accepts protocol, metadata and output for
        this rig (PlanRefused, every problem listed, nothing stimulated). The session
        streams the amplifier itself, so monitoring stops first (on that thread) and the
        ring buffer restarts with the session's stream.

        ``study`` (:class:`app.study.run_link.StudySession`) makes it a study session: on
        a simulated rig it must have been started as that animal
        (:meth:`restart_simulated`), so the study's hidden effect applies as with
        ``myoforce run --study``; a simulated rig started as a study animal runs nothing else.
        A simulated rig must also run the session's muscle (the plan's, which the
        metadata records): never one muscle simulated and another recorded.
        """
        rig = self._require_rig()
        plan = self.plan(protocol, out_path, metadata, protocol_source=protocol_source,
                         protocol_text=session_kwargs.get("protocol_text"),
                         overwrite=session_kwargs.pop("overwrite", None), study=study)
        if not self.simulated_as(study):
            from app.errors import UserError
            who = f"study animal {study.animal}" if study is not None else "no study's animal"
            raise UserError(f"the simulated rig was not started as {who}: restart it first")
        if not self.simulated_as(study, plan.preset):
            from app.errors import UserError
            raise UserError(f"the simulated rig runs {self.simulated_muscle}, but the "
                            f"session's muscle is {plan.metadata.muscle} ({plan.preset}): "
                            f"restart it first")
        session_kwargs["protocol_text"] = plan.protocol_text
        session_kwargs.setdefault("tare_samples", plan.tare_samples)
        with self._lock:
            if self.session is not None:
                from app.errors import UserError
                raise UserError("a protocol is already running")
            factory = session_factory or default_session_factory
            session = factory(protocol=plan.protocol, rig=BorrowedRig.of(rig),
                              out_path=plan.out, metadata=plan.metadata,
                              auto_continue=auto_continue, overwrite=plan.overwrite,
                              **session_kwargs)
            self.session = session
            self.session_path = Path(out_path)
            self.last_status = None
            self._auto_continue = auto_continue
            self._marks = protocol_marks.ProtocolMarks()
            session.subscribe(self._on_runner_event)
        self._emit(SessionStarted(str(out_path), session))
        t = threading.Thread(target=self._run_session, args=(session, rig),
                             name="myoforce-session", daemon=True)
        self._session_thread = t
        t.start()
        return session

    def _run_session(self, session: Any, rig: Rig) -> None:
        status, message = "completed", ""
        try:
            with self._device_lock:           # no monitor start can slip in: session is set
                self._monitoring = False
                if rig.amplifier.streaming:
                    rig.amplifier.stop()
            result = session.run()
            status = getattr(result, "status", None) or self.last_status or status
        except BaseException as exc:  # noqa: BLE001 - reported, never lost
            status, message = "error", f"{type(exc).__name__}: {exc}"
            self._emit(ExperimentError(message, exc))
        finally:
            with self._lock:
                if self.session is session:
                    self.session = None
            self._emit(SessionEnded(message or str(self.last_status or status),
                              self.session_path))

    def _on_runner_event(self, ev: Any) -> None:
        if isinstance(ev, Finished):
            self.last_status = ev.status
        elif isinstance(ev, StepStarted):
            self._add_marks(self._marks.step_started(ev.name, ev.sample))
        elif isinstance(ev, TrialRecorded):
            self._add_marks(self._marks.marks(protocol_marks.from_event(ev)))
        self._emit(ev)
        if isinstance(ev, OperatorPrompt) and self._auto_continue and not ev.auto:
            # switched on mid-run (the session's own auto-continue answers the others)
            try:
                self.answer(ev.id, ev.default)
            except Exception as exc:
                self._emit(ExperimentError(f"auto-continue: {exc}", exc))

    def _add_marks(self, marks: Any) -> None:
        """A step's or a trial's marks on the live trace, at the stream samples the
        runner's event names (:mod:`app.live.protocol_marks`): on the runner's thread,
        before the GUI hears of the event."""
        for sample, label, kind in marks:
            self.ring.add_marker(label, sample, kind=kind)

    def set_auto_continue(self, on: bool) -> None:
        self._auto_continue = bool(on)

    def pause(self) -> None:
        s = self.session
        if s is not None:
            s.pause()

    def resume(self) -> None:
        s = self.session
        if s is not None:
            s.resume()

    def answer(self, prompt_id: Any, value: Any) -> None:
        s = self.session
        if s is not None:
            s.answer(prompt_id, value)

    def add_comment(self, text: str) -> Any:
        """An operator's comment on the running session, at the newest sample the
        recorder was offered: written through its audit log (crash-safe, as the data;
        :func:`app.recorder.comments.record_comment`) and drawn on the live trace as a
        ``comment`` marker at the same sample. Returns the
        :class:`~app.recorder.comments.Comment`; UserError (nothing written, nothing
        drawn) for bad text or when no recording is running."""
        from app.recorder.comments import record_comment
        session = self.session
        comment = record_comment(getattr(session, "recorder", None), text)
        self.ring.add_marker(comment.text, comment.sample, kind="comment")
        return comment

    def stop(self) -> None:
        """STOP: abort the protocol and turn the stimulator off at once. Any thread, any time.

        The stimulator abort goes first, on its own thread, so a runner busy with a device
        call cannot delay it; then the runner is told to abort (it finishes the file)."""
        rig, session = self.rig, self.session
        if rig is not None:
            threading.Thread(target=_quiet(rig.stimulator.abort), name="myoforce-stop",
                             daemon=True).start()
        if session is not None:
            try:
                session.abort()
            except Exception as exc:
                self._emit(ExperimentError(f"abort: {exc}", exc))
        self._emit(StopPressed("STOP pressed: stimulator output off"))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running session to end; True if none is running any more."""
        return self._join_session(timeout)

    def _join_session(self, timeout: float | None) -> bool:
        t = self._session_thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            return not t.is_alive()
        return True

    def _release_session(self) -> None:
        """Before the rig goes: a running session is STOPped (output off, session aborted)
        and left to close its file. With none running there is nothing to stop (and no
        STOP to report, e.g. when a simulated rig restarts as a study animal): the rig's
        own close switches the output off before it releases anything."""
        if self.session is not None:
            self.stop()
        self._join_session(10.0)

    def close(self) -> None:
        """Abort anything running and release the rig; safe to call twice."""
        self.stop()
        self._join_session(15.0)
        self.disconnect()


def _quiet(fn: Callable[[], Any]) -> Callable[[], None]:
    def call() -> None:
        try:
            fn()
        except Exception:
            pass
    return call
