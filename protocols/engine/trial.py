"""Deliver one stimulus and collect its trial: the helper every stimulating step shares.

It follows ACQ4's DeviceTask lifecycle, one stimulus at a time:

1. **configure** the stimulator (limits checked by the driver, output off);
2. note the stream position, **start** (fire: the instrument times the pulses);
3. **poll** the sample stream until the trigger edges of the train have arrived and
   the train is over (sample time, not host time); then the output goes **off** —
   always, in ``finally``, whatever happened;
4. **collect** the post window, find the pulses (trigger-edge samples, exact);
5. **store** the trial (``completed`` or ``aborted``), analyse it, emit events.

An abort or failure at any point still leaves the output off and the interrupted
trial stored with status ``aborted`` before the interruption propagates.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from app.recording import Recording, Trial
from drivers.capabilities import StimulusSpec
from drivers.errors import DeviceError, LimitError
from protocols.engine.interrupts import RunFailed, RunInterrupted
from protocols.events import TrialAnalysed, TrialRecorded

if TYPE_CHECKING:
    from protocols.engine.context import StepContext

log = logging.getLogger(__name__)

#: trigger edges are looked for this long (sample time) after the stream position at fire
MARKER_WAIT_S = 0.5
#: the output is switched off this long after the nominal end of the train
OFF_MARGIN_MS = 2.0


@dataclass(frozen=True)
class RecordedTrial:
    """One contraction as the runner stored it. Sample indices are stream indices."""

    index: int
    step: str
    step_index: int
    kind: str                      # 'twitch' | 'tetanus' (by the pulses requested)
    start_sample: int
    stop_sample: int
    first_pulse_sample: int | None
    pulse_samples: np.ndarray      # int64 stream indices of every trigger edge in the trial
    requested_pulses: int
    current_mA: float
    pulse_width_ms: float
    frequency_hz: float | None
    status: str                    # 'completed' | 'aborted'
    length_mm: float | None
    wall_time_s: float             # when it was fired (informative only)

    @property
    def pulses(self) -> int:
        return int(self.pulse_samples.size)


@runtime_checkable
class TrialStore(Protocol):
    """Where trials and the audit log go (the session adapts the HDF5 recorder to this)."""

    def add_trial(self, trial: RecordedTrial) -> None: ...

    def log(self, kind: str, message: str, **fields: Any) -> None: ...


class NullStore:
    """Keeps trials and log entries in memory (tests, dry runs)."""

    def __init__(self) -> None:
        self.trials: list[RecordedTrial] = []
        self.entries: list[tuple[str, str, dict]] = []

    def add_trial(self, trial: RecordedTrial) -> None:
        self.trials.append(trial)

    def log(self, kind: str, message: str, **fields: Any) -> None:
        self.entries.append((kind, message, fields))


@dataclass
class TrialOutcome:
    """What a step gets back from :func:`deliver`."""

    trial: RecordedTrial
    result: dict[str, Any] = field(default_factory=dict)
    peak_force_mN: float = math.nan   # analysis' Pt/Po, or a simple estimate if analysis failed


def describe(spec: StimulusSpec) -> str:
    if spec.pulses == 1:
        return f"a {spec.current_mA:g} mA, {spec.pulse_width_ms:g} ms pulse"
    return (f"a {spec.pulses}-pulse {spec.frequency_hz:g} Hz train at {spec.current_mA:g} mA, "
            f"{spec.pulse_width_ms:g} ms")


def deliver(ctx: "StepContext", spec: StimulusSpec, *, post_ms: float | None = None) -> TrialOutcome:
    """Deliver ``spec`` and store its trial; see the module docstring."""
    runner = ctx.runner
    buf = runner.buffer
    stim = runner.rig.stimulator
    windows = runner.protocol.windows
    if post_ms is None:
        post_ms = windows.twitch_post_ms if spec.pulses == 1 else windows.tetanus_post_ms

    runner.checkpoint()          # pause and abort take effect between trials
    rate = runner.sample_rate_hz
    try:                         # 1. configure (output stays off)
        stim.configure(spec)
    except LimitError as exc:
        raise RunFailed(f"the stimulator refused {describe(spec)}: {exc}") from exc
    except DeviceError as exc:
        raise runner.device_failure("stimulator", exc) from exc

    # a baseline must exist before the first pulse (matters right after streaming starts);
    # an abort up to here leaves no trial behind: nothing was delivered
    pre_samples = int(round(windows.pre_ms * rate / 1000.0))
    try:
        _wait_stream(runner, pre_samples + 1, rate)
        runner.check()
    except RunInterrupted:
        _off(runner, stim)
        raise

    mark = buf.end_sample        # 2. stream position, then fire
    wall = time.time()
    index = runner.next_trial_index()
    interruption: RunInterrupted | None = None
    first: int | None = None
    duration_samples = int(math.ceil(spec.duration_ms * rate / 1000.0))
    try:
        stim.fire()
        # an abort since configure() makes fire() refuse (StimulusAborted, nothing sent);
        # this check catches an abort during fire() itself; `finally` turns the output off
        runner.check()
        first = _wait_first_edge(runner, mark, rate)            # 3. poll
        ref = first if first is not None else mark + int(MARKER_WAIT_S * rate)
        off_at = ref + duration_samples + int(math.ceil(OFF_MARGIN_MS * rate / 1000.0))
        _wait_stream(runner, off_at, rate)
    except RunInterrupted as exc:
        interruption = exc
    except DeviceError as exc:
        interruption = runner.device_failure("stimulator", exc)
    finally:
        try:
            stim.set_output(False)                              # always off
        except Exception as exc:
            runner.emergency_off()
            if interruption is None:
                interruption = runner.device_failure("stimulator", exc)

    ref = first if first is not None else mark
    planned_stop = ref + duration_samples + int(round(post_ms * rate / 1000.0))
    if interruption is None:                                    # 4. collect
        try:
            _wait_stream(runner, planned_stop, rate)
        except RunInterrupted as exc:
            interruption = exc
    stop = planned_stop if interruption is None else max(ref + 1, min(planned_stop, buf.end_sample))
    start = max(ref - pre_samples, buf.oldest_sample())
    edges = buf.trigger_edges(mark, stop)
    if first is None and edges.size:
        first = int(edges[0])
    trial = RecordedTrial(
        index=index, step=ctx.name, step_index=ctx.index,
        kind="twitch" if spec.pulses == 1 else "tetanus",
        start_sample=int(start), stop_sample=int(stop),
        first_pulse_sample=first, pulse_samples=edges, requested_pulses=spec.pulses,
        current_mA=spec.current_mA, pulse_width_ms=spec.pulse_width_ms,
        frequency_hz=spec.frequency_hz if spec.pulses > 1 else None,
        status="aborted" if interruption is not None else "completed",
        length_mm=runner.length_mm, wall_time_s=wall)

    try:                                                        # 5. store
        runner.store.add_trial(trial)
    except Exception as exc:
        log.exception("storing trial %d failed", index)
        if interruption is None:
            interruption = RunFailed(f"the recording could not store trial {index}: {exc}")
    runner.emit(TrialRecorded(
        trial_index=index, step_index=ctx.index, step=ctx.name, kind=trial.kind,
        status=trial.status, start_sample=trial.start_sample, stop_sample=trial.stop_sample,
        first_pulse_sample=first, pulses=trial.pulses, requested_pulses=spec.pulses,
        current_mA=spec.current_mA, pulse_width_ms=spec.pulse_width_ms,
        frequency_hz=trial.frequency_hz, length_mm=trial.length_mm))
    if interruption is None:
        if first is None:
            ctx.warn(f"trial {index}: no stimulus marker in the stream; check the cable from the "
                     f"stimulator's Sync output to the amplifier's trigger input")
        elif trial.pulses != spec.pulses:
            ctx.warn(f"trial {index}: {trial.pulses} stimulus marker(s) in the stream, "
                     f"{spec.pulses} requested")
    outcome = _analyse(ctx, trial)
    if interruption is not None:
        raise interruption
    return outcome


def _off(runner, stim) -> None:
    """Output off without raising (the stimulus was configured but never fired)."""
    try:
        stim.set_output(False)
    except Exception:
        runner.emergency_off()


def _wait_first_edge(runner, mark: int, rate: float) -> int | None:
    """The first trigger edge at or after ``mark``, or None if none came within MARKER_WAIT_S."""
    buf = runner.buffer
    limit = mark + int(MARKER_WAIT_S * rate)
    while True:
        edges = buf.trigger_edges(mark)
        if edges.size:
            return int(edges[0])
        end = buf.end_sample
        if end >= limit:
            return None
        _wait_stream(runner, end + 1, rate)


def _wait_stream(runner, sample: int, rate: float) -> None:
    """Wait for the stream to reach ``sample``; raise if interrupted or the stream is silent."""
    buf = runner.buffer
    while True:
        before = buf.end_sample
        if before >= sample:
            return
        budget = (sample - before) / rate + runner.stream_timeout_s
        if buf.wait_until(sample, timeout_s=budget, interrupted=runner.interrupted,
                          poll_s=runner.POLL_S):
            return
        runner.check()           # raises when interrupted
        if buf.end_sample == before:
            raise RunFailed(f"no samples from the amplifier for {runner.stream_timeout_s:g} s "
                            f"(stream stopped at sample {before})")


def _analyse(ctx: "StepContext", trial: RecordedTrial) -> TrialOutcome:
    """Analyse the trial from the runner's buffer (stream-relative window) and emit."""
    runner = ctx.runner
    rate = runner.sample_rate_hz
    force = runner.buffer.window(trial.start_sample, trial.stop_sample).force_mN
    rel = Trial(index=trial.index, kind=trial.kind, start_sample=0, stop_sample=int(force.size),
                stim_samples=(trial.pulse_samples - trial.start_sample).astype(np.int64),
                frequency_hz=trial.frequency_hz, current_mA=trial.current_mA,
                pulse_width_ms=trial.pulse_width_ms, status=trial.status, step=trial.step,
                length_mm=trial.length_mm)
    recording = Recording(source="live", format="myoforce-live", sample_rate_hz=rate,
                          force_mN=force, stim_samples=rel.stim_samples, trials=[rel])
    result: dict[str, Any] = {}
    analyzer = runner.analyzer
    if analyzer is not None and force.size:
        try:
            res = analyzer(recording, rel)
            result = dict(res.to_dict()) if hasattr(res, "to_dict") else dict(res)
        except Exception as exc:
            log.exception("analysis of trial %d failed", trial.index)
            result = {"error": f"analysis failed: {exc}"}
    # markers as stream indices, like every other index the runner reports
    markers = result.get("markers")
    if isinstance(markers, dict):
        result["markers"] = {k: (v + trial.start_sample if isinstance(v, (int, float)) else v)
                             for k, v in markers.items()}
    if isinstance(result.get("stim_time_s"), (int, float)):
        result["stim_time_s"] = result["stim_time_s"] + trial.start_sample / rate
    result["index"] = trial.index
    result.setdefault("status", trial.status)
    peak = _number(result.get("peak_force_mN"))
    if peak is None:
        peak = simple_peak_mN(force, rel.stim_samples, rate)
    outcome = TrialOutcome(trial=trial, result=result, peak_force_mN=peak)
    event = TrialAnalysed(
        trial_index=trial.index, step_index=trial.step_index, step=trial.step, kind=trial.kind,
        status=trial.status, current_mA=trial.current_mA, frequency_hz=trial.frequency_hz,
        pulses=trial.pulses, length_mm=trial.length_mm, result=result)
    runner.record_analysis(event)
    return outcome


def simple_peak_mN(force: np.ndarray, stim: np.ndarray, rate: float,
                   blank_ms: float = 1.0, baseline_ms: float = 20.0) -> float:
    """Peak above the pre-stimulus mean, pulses' artefacts blanked: a fallback when the
    full analysis has no value (e.g. a sub-threshold twitch), so a search can go on."""
    if force.size == 0 or stim.size == 0:
        return math.nan
    first = int(stim[0])
    n_base = max(1, int(baseline_ms * rate / 1000.0))
    base = force[max(0, first - n_base - 1):max(1, first - 1)]
    x = force[first:].astype(np.float64)
    blank = max(1, int(math.ceil(blank_ms * rate / 1000.0)))
    for p in stim - first:
        x[max(0, p):p + blank] = np.nan
    if not np.isfinite(x).any() or not np.isfinite(base).any():
        return math.nan
    return float(np.nanmax(x) - np.nanmean(base))


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
