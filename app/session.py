"""One experiment session: protocol + rig + output file + metadata, started and torn down right.

:class:`ExperimentSession` is the facade the CLI and the GUI both use, so the order of
things that keeps an animal and a recording safe lives in one place:

start
    connect the rig (stimulator commands go to the audit log from the first ``*IDN?``),
    tare the amplifier, open the recorder (file layout, metadata, rig, devices,
    protocol text), subscribe the recorder to the amplifier's blocks, start streaming,
    start the protocol runner.
teardown (always, whatever happened, each stage even if an earlier one failed)
    stimulator output off -> runner stopped -> amplifier stopped -> recorder closed
    (status 'complete' or 'aborted') -> devices closed.

A recorder that cannot write ('write-failed') fails the run at once (stimulation
stops); amplifier trouble reaches the runner through its own notice subscription.
"""
from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from app import __version__
from app.metadata import SessionMetadata
from app.rig.connect import CommandHook
from drivers.capabilities import Rig
from protocols.engine import ProtocolRunner, RecordedTrial
from protocols.events import (Event, Finished, RunnerState, StepCompleted, Subscribers,
                              TrialAnalysed)
from protocols.schema import ProtocolSpec

if TYPE_CHECKING:
    from app.recorder.records import TrialRecord

log = logging.getLogger(__name__)

RigFactory = Callable[[CommandHook], Rig]


class _CommandAudit:
    """The devices' ``on_command`` hook: every command into the audit log, as
    ``stimulator-command`` or ``amplifier-command``.

    Commands sent before the recorder exists (while connecting) are kept and written
    first when it opens, so the log holds the instrument's whole conversation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._early: list[tuple[str, str]] = []
        self._recorder: Any = None

    def __call__(self, command: str, device: str = "stimulator") -> None:
        with self._lock:
            recorder = self._recorder
            if recorder is None:
                self._early.append((device, command))
                return
        recorder.log(f"{device}-command", command)

    def attach(self, recorder: Any) -> None:
        with self._lock:
            for device, command in self._early:
                recorder.log(f"{device}-command", command, before_recording=True)
            self._early.clear()
            self._recorder = recorder

    def detach(self) -> None:
        with self._lock:
            self._recorder = None


def file_row(trial: RecordedTrial) -> TrialRecord:
    """The file's trial row for a trial the runner stored: the one conversion between the
    two (unknowns become NaN / -1; ``wall_time_utc`` is when the stimulus was fired)."""
    from app.recorder.layout import utc_iso
    from app.recorder.records import TrialRecord

    nan = math.nan
    return TrialRecord(
        index=trial.index, kind=trial.kind, start_sample=trial.start_sample,
        stop_sample=trial.stop_sample, step=trial.step,
        first_pulse_sample=-1 if trial.first_pulse_sample is None else trial.first_pulse_sample,
        pulses=trial.pulses, current_mA=trial.current_mA, pulse_width_ms=trial.pulse_width_ms,
        frequency_hz=nan if trial.frequency_hz is None else trial.frequency_hz,
        status=trial.status, length_mm=nan if trial.length_mm is None else trial.length_mm,
        wall_time_utc=utc_iso(trial.wall_time_s))


class _RecorderStore:
    """Adapts the HDF5 recorder to the runner's :class:`~protocols.engine.TrialStore`."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder

    def add_trial(self, trial: RecordedTrial) -> None:
        self.recorder.add_trial(file_row(trial))

    def log(self, kind: str, message: str, **fields: Any) -> int | None:
        """The entry goes to the file at the recorder's stream position, which is returned
        (what :class:`~protocols.events.StepStarted` carries)."""
        entry = self.recorder.log(kind, message, **fields)
        sample = getattr(entry, "sample", None)
        return int(sample) if sample is not None else None


class ExperimentSession:
    """Runs one protocol on one rig into one file. See the module docstring.

    ``rig`` is a connected :class:`Rig` or a factory ``f(on_command) -> Rig`` (preferred:
    then the stimulator's commands are audited from the very first one). The session
    owns the rig and closes it in :meth:`close`.
    """

    JOIN_TIMEOUT_S = 15.0

    def __init__(self, protocol: ProtocolSpec, rig: Rig | RigFactory, out_path: str | Path,
                 metadata: SessionMetadata | None = None, *, overwrite: bool = False,
                 auto_continue: bool = False, protocol_text: str | None = None,
                 tare_samples: int = 1000, analyzer: Any = "default",
                 recorder_factory: Callable[..., Any] | None = None,
                 flush_interval_s: float = 0.5, protocol_source: str = "protocol") -> None:
        self.protocol = protocol
        self.out_path = Path(out_path)
        self.metadata = metadata or SessionMetadata()
        self.overwrite = overwrite
        self.auto_continue = auto_continue
        self.protocol_text = protocol_text
        self.protocol_source = protocol_source
        self.tare_samples = int(tare_samples)
        self._analyzer = analyzer
        self._rig_source = rig
        self._recorder_factory = recorder_factory
        self._flush_interval_s = flush_interval_s
        self._audit = _CommandAudit()
        self._lock = threading.RLock()
        self._subscribers = Subscribers("session")
        self._unsubscribe: list[Callable[[], None]] = []
        self.rig: Rig | None = None
        self.recorder: Any = None
        self.runner: ProtocolRunner | None = None
        self.recorder_status: str | None = None
        self.teardown_errors: list[str] = []
        self._closed = False
        self._streaming = False

    # ------------------------------------------------------------------ public API
    @property
    def command_hook(self) -> CommandHook:
        """Pass as ``on_command`` when connecting a rig yourself."""
        return self._audit

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Receive every runner event (on the runner's thread; must not block)."""
        return self._subscribers.add(callback)

    def start(self) -> None:
        """Connect, tare, open the recording, start streaming and the runner.

        On any failure everything already set up is torn down before the error propagates."""
        from app.recorder.writer import RecordingExistsError, SessionRecorder

        if self.out_path.exists() and not self.overwrite:
            raise RecordingExistsError(f"{self.out_path}: file exists; refusing to overwrite a "
                                       f"recording (choose another name, or pass --overwrite)")
        try:
            rig = self._rig_source(self._audit) if callable(self._rig_source) else self._rig_source
            self.rig = rig
            self._check_protocol(rig)
            calibration = rig.amplifier.tare(self.tare_samples)
            factory = self._recorder_factory or SessionRecorder
            self.recorder = factory(self.out_path, overwrite=self.overwrite,
                                    flush_interval_s=self._flush_interval_s,
                                    on_notice=self._on_recorder_notice)
            # a DAQ rig's auxiliary channels are recorded beside force (/aux)
            aux_channels = getattr(rig.amplifier, "aux_channels", None)
            aux = {"aux_channels": aux_channels()} if callable(aux_channels) and aux_channels() else {}
            self.recorder.open(
                sample_rate_hz=rig.amplifier.sample_rate_hz, calibration=calibration,
                metadata=self.metadata, rig=rig.description,
                devices={"stimulator": rig.stimulator.identity, "amplifier": rig.amplifier.identity},
                protocol_text=self.protocol_text, protocol=self.protocol.model_dump(mode="json"),
                software_version=__version__, **aux)
            self._audit.attach(self.recorder)
            self.recorder.log("tare", f"amplifier tared over {self.tare_samples} samples",
                              offset_counts=calibration.offset_counts,
                              scale_mN_per_count=calibration.scale_mN_per_count)
            self._unsubscribe.append(rig.amplifier.subscribe(self.recorder.put_block))
            put_notice = getattr(self.recorder, "put_notice", None)
            if put_notice is not None:      # stream edges: loss at START and STOP logged
                self._unsubscribe.append(rig.amplifier.subscribe_notices(put_notice))
            self.runner = ProtocolRunner(
                self.protocol, rig, store=_RecorderStore(self.recorder), analyzer=self._analyzer,
                auto_continue=self.auto_continue, initial_length_mm=self.metadata.muscle_length_mm
                if rig.length is None else None)
            self.runner.subscribe(self._dispatch)
            rig.amplifier.start()
            self._streaming = True
            self.runner.start()
        except BaseException:
            self.close()
            raise

    def wait(self, timeout: float | None = None) -> Finished | None:
        """Block until the runner has finished (None on timeout or if it never started)."""
        if self.runner is None:
            return None
        return self.runner.wait(timeout)

    def abort(self, reason: str = "aborted by the operator") -> None:
        if self.runner is not None:
            self.runner.abort(reason)
        elif self.rig is not None:
            self._safe(self.rig.stimulator.abort, "stimulator off")

    def pause(self) -> None:
        if self.runner is not None:
            self.runner.pause()

    def resume(self) -> None:
        if self.runner is not None:
            self.runner.resume()

    def answer(self, prompt_id: str, value: Any = None) -> Any:
        if self.runner is None:
            raise KeyError(f"no open prompt {prompt_id!r}")
        return self.runner.answer(prompt_id, value)

    @property
    def finished(self) -> Finished | None:
        return self.runner.finished if self.runner is not None else None

    @property
    def output_off_confirmed(self) -> bool | None:
        """Whether the stimulator confirmed its output off at the end (``OUTP?``): False
        when it stopped answering (the switch-off was sent but cannot be confirmed), None
        when the driver does not say."""
        stimulator = self.rig.stimulator if self.rig is not None else None
        return getattr(stimulator, "off_confirmed", None)

    @property
    def results(self) -> list[TrialAnalysed]:
        return list(self.runner.trials) if self.runner is not None else []

    def run(self) -> Finished:
        """start(), wait, close(); Ctrl-C (KeyboardInterrupt) aborts safely and re-raises."""
        self.start()
        try:
            while True:
                finished = self.wait(0.2)
                if finished is not None:
                    return finished
        except BaseException:
            self.abort("interrupted")
            raise
        finally:
            self.close()

    def close(self) -> str | None:
        """Tear down in the safe order (see the module docstring). Idempotent.

        Returns the recorder's final status ('complete' or 'aborted'), or None if no
        recording was opened. Problems on the way are logged and kept in
        ``teardown_errors``; they never stop the later stages."""
        with self._lock:
            if self._closed:
                return self.recorder_status
            self._closed = True
        rig, runner, recorder = self.rig, self.runner, self.recorder
        # 1. stimulator output off
        if rig is not None:
            self._safe(rig.stimulator.abort, "stimulator off")
        # 2. runner stopped
        if runner is not None:
            if runner.finished is None:
                runner.abort("session closed")
            runner.join(self.JOIN_TIMEOUT_S)
            if runner.finished is None and runner.state != RunnerState.IDLE:
                self.teardown_errors.append("the protocol runner did not stop in time")
                log.error("the protocol runner did not stop within %.0f s", self.JOIN_TIMEOUT_S)
        # 3. amplifier stopped
        if rig is not None and self._streaming:
            self._safe(rig.amplifier.stop, "amplifier stop")
        for unsubscribe in self._unsubscribe:
            self._safe(unsubscribe, "unsubscribe")
        self._unsubscribe.clear()
        # 4. recorder closed
        if recorder is not None:
            finished = runner.finished if runner is not None else None
            status = "complete" if finished is not None and finished.status == "completed" else "aborted"
            if finished is not None:
                self._safe(lambda: recorder.log("run-status", finished.message or finished.status,
                                                status=finished.status, trials=finished.trials),
                           "final log entry")
            self._audit.detach()
            if self._safe(lambda: recorder.close(status), "recorder close"):
                self.recorder_status = status
        # 5. devices closed
        if rig is not None:
            self._safe(rig.close, "rig close")
        return self.recorder_status

    def __enter__(self) -> "ExperimentSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _check_protocol(self, rig: Rig) -> None:
        """The protocol against the limits the connected stimulator enforces, before
        anything is tared, recorded or stimulated: a session made through the API (not
        from a run plan) is held to the same rules (app.run_plan.protocol_problems)."""
        from app.run_plan import PlanRefused, RigSettings, protocol_problems

        problems = protocol_problems(self.protocol, RigSettings.from_rig(rig),
                                     source=self.protocol_source)
        if problems:
            raise PlanRefused(problems)

    def _safe(self, action: Callable[[], Any], what: str) -> bool:
        """Run one teardown stage; a failure is logged (with its traceback, to the log
        file) and kept in the recording's audit table while it is still open."""
        try:
            action()
            return True
        except Exception as exc:
            log.warning("%s failed", what, exc_info=True)
            self.teardown_errors.append(f"{what}: {exc}")
            recorder = self.recorder
            if recorder is not None and what != "recorder close":
                try:
                    recorder.log("fault", f"{what}: {exc}", stage=what,
                                 error=type(exc).__name__)
                except Exception:       # the recorder may be the thing that failed
                    pass
            return False

    def _dispatch(self, event: Event) -> None:
        """Runner events: keep step results in the recording, then pass them on."""
        recorder = self.recorder
        if recorder is not None:
            try:
                if isinstance(event, StepCompleted) and event.result:
                    recorder.add_analysis(f"step {event.index} {event.kind} {event.name}",
                                          {"step": event.name, "kind": event.kind, **event.result})
                elif isinstance(event, TrialAnalysed):
                    recorder.add_analysis(f"trial {event.trial_index}", event.result)
            except Exception:
                log.exception("storing a live analysis result failed")
        self._subscribers.emit(event)

    def _on_recorder_notice(self, notice: Any) -> None:
        """Recorder trouble (writer thread): a write failure stops stimulation now."""
        runner = self.runner
        if notice.kind == "write-failed":
            if runner is not None:
                runner.fail(f"the recording cannot be written: {notice.message}")
            elif self.rig is not None:
                self._safe(self.rig.stimulator.abort, "stimulator off")
        elif notice.kind in ("data-loss", "stream-error") and runner is not None:
            runner.warn_later(f"recorder {notice.kind}: {notice.message}")
