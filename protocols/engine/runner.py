"""The protocol runner: one worker thread running a protocol's steps, typed events.

The state machine, the control calls (``pause``, ``resume``, ``abort``, ``fail``) and
every wait of the worker are :class:`~protocols.engine.control.RunControl` (one lock,
one condition variable), which the runner extends with what a run does: subscribe to
the amplifier, run each step, answer prompts, store and analyse trials, emit events.
``abort`` switches the stimulator off from the calling thread at once; the worker
notices within ~50 ms wherever it is waiting, stores the interrupted trial as
``aborted`` and ends.

Whatever ends the run, the worker's last act before ``Finished`` is switching the
stimulator output off. Events go to every subscriber; a subscriber that raises is
logged and skipped, never allowed to stop the run. What has its own state lives apart:
prompts (``prompts.py``), the stream window (``stream.py``), trials (``trial.py``),
steps (``steps/``).
"""
from __future__ import annotations

import itertools
import logging
import threading
from typing import Any, Callable

from drivers.capabilities import LengthControl, Rig, Stimulator, StimulusSpec, StreamNotice
from drivers.errors import DeviceError, LimitError
from drivers.limits import StimulusLimits
from protocols.engine.context import Analyzer, StepContext
from protocols.engine.control import S, RunControl
from protocols.engine.fire_hold import hold_fire
from protocols.engine.interrupts import RunAborted, RunFailed, RunInterrupted
from protocols.engine.steps import STEP_RUNNERS
from protocols.engine.stream import StreamBuffer
from protocols.engine.trial import NullStore, RecordedTrial, TrialStore
from protocols.events import (Event, Finished, OperatorPrompt, PromptAnswered, RunError,
                              RunWarning, StepCompleted, StepStarted, Subscribers, TrialAnalysed)
from protocols.schema import ProtocolSpec

log = logging.getLogger(__name__)


def default_analyzer() -> Analyzer | None:
    """``app.analysis.analyze_trial`` when available (the engine works without it)."""
    try:
        from app.analysis import analyze_trial
    except ImportError:  # pragma: no cover - analysis is part of the application
        log.warning("app.analysis.analyze_trial is not available; trials are not analysed")
        return None
    return analyze_trial


class ProtocolRunner(RunControl):
    """Runs a validated protocol on a rig whose amplifier is already streaming.

    Steps and the trial helper see it only as a :class:`~protocols.engine.context.StepHost`
    (the methods under "for steps" below)."""

    #: how often waits check for abort/pause (s); abort latency is at most this
    POLL_S = 0.05

    def __init__(self, protocol: ProtocolSpec, rig: Rig, *, store: TrialStore | None = None,
                 analyzer: Analyzer | None | str = "default", auto_continue: bool = False,
                 limits: StimulusLimits | None = None, initial_length_mm: float | None = None,
                 stream_timeout_s: float = 3.0, retain_s: float = 30.0) -> None:
        self.protocol = protocol
        self.rig = rig
        self.store: TrialStore = store if store is not None else NullStore()
        self.analyzer: Analyzer | None = default_analyzer() if analyzer == "default" else analyzer
        self.auto_continue = bool(auto_continue)
        self.limits = limits or getattr(rig.stimulator, "limits", None) or StimulusLimits()
        self.stream_timeout_s = float(stream_timeout_s)
        self._stream = StreamBuffer(retain_s)

        super().__init__()
        self._trial_ids = itertools.count(0)
        self._subscribers = Subscribers("runner")
        self._unsubscribe: list[Callable[[], None]] = []
        self._notices: dict[str, int] = {}
        self._later: list[str] = []
        self._done = threading.Event()
        self._current_step: int | None = None

        self._working_current_mA: float | None = protocol.current_mA
        length = getattr(rig.length, "length_mm", None) if rig.length is not None else None
        self._length_mm: float | None = initial_length_mm if initial_length_mm is not None else (
            float(length) if isinstance(length, (int, float)) else None)
        self.trials: list[TrialAnalysed] = []
        self.step_results: dict[int, StepCompleted] = {}
        self.finished: Finished | None = None

    # ================================================================== public API
    @property
    def trials_done(self) -> int:
        return len(self.trials)

    @property
    def sample_rate_hz(self) -> float:
        return float(self._stream.sample_rate_hz or self.rig.amplifier.sample_rate_hz)

    @property
    def open_prompts(self) -> list[OperatorPrompt]:
        return self._prompts.open_prompts()

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Receive every event; returns a function that unsubscribes."""
        return self._subscribers.add(callback)

    def start(self) -> None:
        """Check the protocol against this rig's limits (ProtocolFileError listing every
        problem, nothing stimulated), subscribe to the amplifier, start the worker thread.

        The run plan checks the same before anything is connected; this is the check for
        a runner used on its own (the API route), with the limits the stimulator enforces."""
        from protocols.loader import ProtocolFileError
        from protocols.validation import check_limits, check_structure
        problems = check_structure(self.protocol) + check_limits(self.protocol, self.limits)
        if problems:
            lines = [f"protocol: {p}" for p in problems]
            raise ProtocolFileError("\n".join(lines), problems=lines)
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the runner was already started")
            self._thread = threading.Thread(target=self._run, name="protocol-runner", daemon=True)
        amp = self.rig.amplifier
        self._unsubscribe.append(amp.subscribe(self._stream.put))
        self._unsubscribe.append(amp.subscribe_notices(self._on_notice))
        self._thread.start()

    def warn_later(self, message: str) -> None:
        """Queue a warning from another thread; the worker emits it at its next check."""
        with self._lock:
            self._later.append(message)

    def answer(self, prompt_id: str, value: Any = None) -> Any:
        """Answer an open prompt; returns the value as understood (e.g. a length as float).

        Raises KeyError for a prompt that is not open and ValueError for an answer of the
        wrong kind (the prompt stays open)."""
        prompt, value = self._prompts.answer(prompt_id, value)
        self.emit(PromptAnswered(id=prompt_id, value=value))
        self.audit("operator-answer", f"{prompt.text} -> {value!r}", prompt_id=prompt_id,
                   value=value if isinstance(value, (int, float, str)) else repr(value))
        return value

    def wait(self, timeout: float | None = None) -> Finished | None:
        """Block until the run has finished; returns its Finished event (None on timeout)."""
        self._done.wait(timeout)
        return self.finished

    def join(self, timeout: float | None = None) -> None:
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    # ================================================================== for steps (StepHost)
    @property
    def stream(self) -> StreamBuffer:
        return self._stream

    @property
    def stimulator(self) -> Stimulator:
        return self.rig.stimulator

    @property
    def length_control(self) -> LengthControl | None:
        return self.rig.length

    @property
    def length_mm(self) -> float | None:
        """The muscle length the next trial is stored with (None: unknown)."""
        return self._length_mm

    def set_length_mm(self, length_mm: float) -> None:
        self._length_mm = float(length_mm)

    @property
    def working_current_mA(self) -> float | None:
        """The current of steps that give none (the protocol's, or the supramaximal search's)."""
        return self._working_current_mA

    def set_working_current_mA(self, current_mA: float) -> None:
        self._working_current_mA = float(current_mA)

    def store_trial(self, trial: RecordedTrial) -> None:
        self.store.add_trial(trial)

    def wait_for_sample(self, sample: int) -> None:
        """Wait for the stream to reach ``sample``; raise if interrupted or the stream is
        silent for ``stream_timeout_s`` beyond the time those samples take."""
        buf, rate = self._stream, self.sample_rate_hz
        while True:
            before = buf.end_sample
            if before >= sample:
                return
            budget = (sample - before) / rate + self.stream_timeout_s
            if buf.wait_until(sample, timeout_s=budget, interrupted=self.interrupted,
                              poll_s=self.POLL_S):
                return
            self.check()             # raises when interrupted
            if buf.end_sample == before:
                raise RunFailed(f"no samples from the amplifier for {self.stream_timeout_s:g} s "
                                f"(stream stopped at sample {before})")

    def emit(self, event: Event) -> None:
        with self._emit_lock:
            self._subscribers.emit(event)

    def audit(self, kind: str, message: str, **fields: Any) -> int | None:
        """Log an audit entry; returns the stream sample the store logged it at (None:
        unknown, or the entry failed)."""
        try:
            sample = self.store.log(kind, message, **fields)
            return None if sample is None else int(sample)
        except Exception:
            log.exception("audit log entry %r failed", kind)
            return None

    def check(self) -> None:
        """Raise RunAborted/RunFailed if the run must stop; report stream trouble."""
        with self._lock:
            failure, reason = self._failure, self._abort_reason
            notices, self._notices = self._notices, {}
            later, self._later = self._later, []
        if failure is not None:
            raise RunFailed(failure)
        if reason is not None:
            raise RunAborted(reason)
        for message in later:
            self.emit(RunWarning(message=message, step_index=self._current_step))
            self.audit("warning", message)
        if notices:
            text = ", ".join(f"{n} {kind}" for kind, n in sorted(notices.items()))
            self.emit(RunWarning(message=f"amplifier stream: {text}", step_index=self._current_step))
            self.audit("stream-warning", f"amplifier stream: {text}", **notices)

    def hold_fire(self, spec: StimulusSpec) -> None:
        """Wait out a short hold of the stimulator's fire-time rules before ``spec``
        (:func:`protocols.engine.fire_hold.hold_fire`)."""
        hold_fire(self, spec, step_index=self._current_step)

    def next_trial_index(self) -> int:
        return next(self._trial_ids)

    def record_analysis(self, event: TrialAnalysed) -> None:
        self.trials.append(event)
        self.emit(event)

    def cap_current(self, current_mA: float, pulse_width_ms: float) -> float:
        """``current_mA`` limited to the rig's maximum current and charge per phase."""
        return min(current_mA, self.limits.max_safe_current_mA(pulse_width_ms))

    def device_failure(self, device: str, exc: BaseException) -> RunInterrupted:
        """The interruption a device error means: an abort's side effect, or a failure."""
        with self._lock:
            failure, reason = self._failure, self._abort_reason
        if failure is not None:
            return RunFailed(failure)
        if reason is not None:
            return RunAborted(reason)
        return RunFailed(f"{device}: {exc}")

    def emergency_off(self) -> None:
        """``stimulator.abort()``: output off now, from any thread; never raises."""
        try:
            self.rig.stimulator.abort()
        except Exception:
            log.exception("stimulator abort failed")

    def ask(self, text: str, *, requested: str | None = None, default: Any = None,
            prompt_id: str | None = None) -> Any:
        """Emit an OperatorPrompt and wait for its answer (WAITING_OPERATOR meanwhile)."""
        self.check()
        pid = prompt_id or self._prompts.new_id()
        if self.auto_continue:
            self.emit(OperatorPrompt(id=pid, text=text, requested=requested, default=default, auto=True))
            self.emit(PromptAnswered(id=pid, value=default, auto=True))
            self.audit("operator-prompt", text, prompt_id=pid, auto=True,
                       answer=default if isinstance(default, (int, float, str)) else repr(default))
            return default
        prompt = OperatorPrompt(id=pid, text=text, requested=requested, default=default)
        self._prompts.open(prompt)
        self.audit("operator-prompt", text, prompt_id=pid)
        self._transition(S.WAITING_OPERATOR, text)
        self.emit(prompt)
        try:
            value = self._wait_for_answer(pid)
        finally:
            self._prompts.close(pid)
        self._transition(S.RUNNING, "answered")
        return value

    def ask_nowait(self, text: str, *, requested: str | None = None, default: Any = None) -> str:
        """Emit a non-blocking OperatorPrompt; the step polls :meth:`poll_answer`."""
        pid = self._prompts.new_id()
        prompt = OperatorPrompt(id=pid, text=text, requested=requested, default=default, blocking=False)
        self._prompts.open(prompt)
        self.audit("operator-prompt", text, prompt_id=pid)
        self.emit(prompt)
        return pid

    def poll_answer(self, prompt_id: str) -> tuple[bool, Any]:
        return self._prompts.take(prompt_id)

    def cancel_prompt(self, prompt_id: str) -> None:
        self._prompts.cancel(prompt_id)

    # ================================================================== internals
    def _on_notice(self, notice: StreamNotice) -> None:
        """Amplifier notices (reader thread): a lost stream fails the run; the rest are counted."""
        if notice.kind in ("disconnected", "timeout", "overrun"):
            self.fail(f"amplifier {notice.kind}: {notice.message}")
        elif notice.kind == "stopped":
            if not self.state.terminal:
                self.fail(f"the amplifier stopped streaming: {notice.message}")
        else:
            with self._lock:
                self._notices[notice.kind] = self._notices.get(notice.kind, 0) + max(1, notice.count)

    def _run(self) -> None:
        status, message = "completed", ""
        self._transition(S.RUNNING, "started")
        self.audit("run-started", f"protocol {self.protocol.name!r}", auto_continue=self.auto_continue)
        try:
            # the first step waits for the stream's first block: a step's start sample (its
            # audit entry's) then names a position every subscriber (the recorder, the
            # live trace) has already seen in this stream
            self.wait_for_sample(1)
            for index in range(len(self.protocol.steps)):
                self.checkpoint()
                self._run_step(index)
            self.check()
        except RunAborted as exc:
            status, message = "aborted", str(exc)
        except RunFailed as exc:
            status, message = "failed", self._where(str(exc))
        except LimitError as exc:
            status, message = "failed", self._where(f"stimulus refused: {exc}")
        except DeviceError as exc:
            interruption = self.device_failure("device", exc)
            status = "aborted" if isinstance(interruption, RunAborted) else "failed"
            message = self._where(str(interruption))
        except Exception as exc:  # a bug: still end safely, and say so
            log.exception("protocol runner crashed")
            status, message = "failed", self._where(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            # the last act before Finished: output off, whatever happened
            if status == "completed" and not self.interrupted():
                try:
                    self.rig.stimulator.set_output(False)
                except Exception as exc:
                    self.emergency_off()
                    status, message = "failed", f"could not switch the stimulator off at the end: {exc}"
            else:
                self.emergency_off()
            for unsubscribe in self._unsubscribe:
                try:
                    unsubscribe()
                except Exception:
                    log.exception("unsubscribing from the amplifier failed")
            self._unsubscribe.clear()
        with self._lock:
            # an abort or failure that came in during the last moments wins over "completed"
            if status == "completed" and self._failure is not None:
                status, message = "failed", self._failure
            elif status == "completed" and self._abort_reason is not None:
                status, message = "aborted", self._abort_reason
        self._finish(status, message)

    def _run_step(self, index: int) -> None:
        ctx = StepContext(self, index)
        step = ctx.step
        self._current_step = index
        note = getattr(step, "note", None)
        if step.kind == "note":
            note = step.text  # type: ignore[attr-defined]
        # the step's start sample, from one place: its audit entry's (the recorder's stream
        # position), so the live trace and the file mark the step at the same sample
        sample = self.audit("step-started", ctx.where, step_kind=step.kind, step=ctx.name,
                            step_index=index)
        self.emit(StepStarted(index=index, count=len(self.protocol.steps), name=ctx.name,
                              kind=step.kind, note=note, sample=sample))
        STEP_RUNNERS[step.kind](ctx, step)
        event = StepCompleted(index=index, name=ctx.name, kind=step.kind, result=dict(ctx.result))
        self.step_results[index] = event
        self.emit(event)
        self.audit("step-completed", ctx.where, step_kind=step.kind)

    def _where(self, message: str) -> str:
        index = self._current_step
        if index is None:
            return message
        from protocols.validation import step_location
        return f"{message} (during step {step_location(self.protocol, index)})"

    def _finish(self, status: str, message: str) -> None:
        with self._lock:
            if self.finished is not None:
                return
            self._prompts.clear()
        target = {"completed": S.COMPLETED, "aborted": S.ABORTED, "failed": S.FAILED}[status]
        if target != S.COMPLETED:
            self._transition(S.ABORTING, message)
            if status == "failed":
                self.emit(RunError(message=message, step_index=self._current_step))
        self._transition(target, message)
        self.audit("run-finished", message or status, status=status, trials=len(self.trials))
        finished = Finished(status=status, message=message, trials=len(self.trials))
        with self._lock:
            self.finished = finished
        self.emit(finished)
        self._done.set()

