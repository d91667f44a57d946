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

The helper reaches the runner only through :class:`~protocols.engine.context.TrialHost`.
A trial exists here as :class:`RecordedTrial` (stream indices, every pulse); the
session turns it into the file's row, the analysis sees it as an
:class:`app.recording.Trial` relative to its window, and subscribers get it as the
``TrialRecorded`` / ``TrialAnalysed`` events (docs/architecture.md, "A trial's forms").
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

import numpy as np

from app.recording import Recording, Trial
from drivers.capabilities import StimulusSpec
from drivers.errors import DeviceError, LimitError
from protocols.engine.interrupts import RunFailed, RunInterrupted
from protocols.events import TrialAnalysed, TrialRecorded

if TYPE_CHECKING:
    from protocols.engine.context import TrialHost

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

    def log(self, kind: str, message: str, **fields: Any) -> int | None:
        """Add an audit entry; returns the stream sample it was logged at (None: the
        store does not follow the stream)."""


class NullStore:
    """Keeps trials and log entries in memory (tests, dry runs)."""

    def __init__(self) -> None:
        self.trials: list[RecordedTrial] = []
        self.entries: list[tuple[str, str, dict]] = []

    def add_trial(self, trial: RecordedTrial) -> None:
        self.trials.append(trial)

    def log(self, kind: str, message: str, **fields: Any) -> None:
        self.entries.append((kind, message, fields))
        return None                     # no stream here: entries have no sample


def describe(spec: StimulusSpec) -> str:
    if spec.pulses == 1:
        return f"a {spec.current_mA:g} mA, {spec.pulse_width_ms:g} ms pulse"
    return (f"a {spec.pulses}-pulse {spec.frequency_hz:g} Hz train at {spec.current_mA:g} mA, "
            f"{spec.pulse_width_ms:g} ms")


@dataclass
class _Shot:
    """One stimulus on its way to becoming a trial (what the phases hand each other)."""

    spec: StimulusSpec
    step: str
    step_index: int
    rate: float
    pre_samples: int
    post_ms: float
    mark: int = 0                         # stream position just before fire
    wall_time_s: float = 0.0              # when it was fired
    index: int = -1
    first: int | None = None              # first trigger edge seen while waiting
    interruption: RunInterrupted | None = None

    @property
    def duration_samples(self) -> int:
        return int(math.ceil(self.spec.duration_ms * self.rate / 1000.0))


@dataclass(frozen=True)
class Delivered:
    """What a stimulating step learns of its trial: the peak force (mN; the analysis'
    Pt/Po, else a simple estimate, else NaN) and, when that peak should not be trusted
    for a decision, why (``doubt``: a flag on the trial concerning its peak force, or a
    refusal for signal quality whose number is only the simple estimate)."""

    peak_mN: float
    doubt: str | None = None
    trial_index: int = -1


def deliver(host: "TrialHost", spec: StimulusSpec, *, step: str, step_index: int,
            post_ms: float | None = None,
            warn: Callable[[str], None] = lambda message: None,
            on_fire: Callable[[float], None] = lambda monotonic_s: None) -> float:
    """Deliver ``spec``, store its trial, return its peak force in mN (the analysis'
    Pt/Po, else a simple estimate, else NaN); see the module docstring. ``on_fire`` gets
    ``time.monotonic()`` just before the stimulator is told to fire: start-to-start
    intervals count from there, as the stimulator's fire-time interlock does."""
    return deliver_measured(host, spec, step=step, step_index=step_index, post_ms=post_ms,
                            warn=warn, on_fire=on_fire).peak_mN


def deliver_measured(host: "TrialHost", spec: StimulusSpec, *, step: str, step_index: int,
                     post_ms: float | None = None,
                     warn: Callable[[str], None] = lambda message: None,
                     on_fire: Callable[[float], None] = lambda monotonic_s: None) -> Delivered:
    """:func:`deliver`, returning the peak with the reason to doubt it (:class:`Delivered`)."""
    windows = host.protocol.windows
    if post_ms is None:
        post_ms = windows.twitch_post_ms if spec.pulses == 1 else windows.tetanus_post_ms
    host.checkpoint()            # pause and abort take effect between trials
    host.hold_fire(spec)         # e.g. the rest after a train of a run aborted just before
    rate = host.sample_rate_hz
    shot = _Shot(spec, step, step_index, rate, int(round(windows.pre_ms * rate / 1000.0)),
                 post_ms)
    _configure(host, shot)
    _fire(host, shot, on_fire)
    trial = _collect(host, shot)
    _store(host, shot, trial)
    if shot.interruption is None:
        _check_markers(trial, spec, warn)
    measured = _analyse(host, trial)
    if shot.interruption is not None:
        raise shot.interruption
    return measured


def _configure(host: "TrialHost", shot: _Shot) -> None:
    """1. configure (output stays off); a baseline must exist before the first pulse
    (matters right after streaming starts). An abort up to here leaves no trial behind:
    nothing was delivered."""
    stim = host.stimulator
    try:
        stim.configure(shot.spec)
    except LimitError as exc:
        raise RunFailed(f"the stimulator refused {describe(shot.spec)}: {exc}") from exc
    except DeviceError as exc:
        raise host.device_failure("stimulator", exc) from exc
    try:
        host.wait_for_sample(shot.pre_samples + 1)
        host.check()
    except RunInterrupted:
        _off(host)
        raise


def _fire(host: "TrialHost", shot: _Shot, on_fire: Callable[[float], None]) -> None:
    """2.-3. note the stream position, fire, wait (sample time) until the train is over;
    the output goes off in ``finally``, whatever happened."""
    stim = host.stimulator
    shot.mark = host.stream.end_sample
    shot.wall_time_s = time.time()
    shot.index = host.next_trial_index()
    rate = shot.rate
    on_fire(time.monotonic())
    try:
        stim.fire()
        # an abort since configure() makes fire() refuse (StimulusAborted, nothing sent);
        # this check catches an abort during fire() itself; `finally` turns the output off
        host.check()
        shot.first = _wait_first_edge(host, shot.mark, rate)
        ref = shot.first if shot.first is not None else shot.mark + int(MARKER_WAIT_S * rate)
        host.wait_for_sample(ref + shot.duration_samples
                             + int(math.ceil(OFF_MARGIN_MS * rate / 1000.0)))
    except RunInterrupted as exc:
        shot.interruption = exc
    except LimitError as exc:           # the driver's fire-time interlock: nothing was sent
        shot.interruption = RunFailed(f"the stimulator refused to fire {describe(shot.spec)}: {exc}")
    except DeviceError as exc:
        shot.interruption = host.device_failure("stimulator", exc)
    finally:
        try:
            stim.set_output(False)                              # always off
        except Exception as exc:
            host.emergency_off()
            if shot.interruption is None:
                shot.interruption = host.device_failure("stimulator", exc)


def _collect(host: "TrialHost", shot: _Shot) -> RecordedTrial:
    """4. wait for the post window (unless interrupted), find the pulses."""
    buf, spec = host.stream, shot.spec
    ref = shot.first if shot.first is not None else shot.mark
    planned_stop = ref + shot.duration_samples + int(round(shot.post_ms * shot.rate / 1000.0))
    if shot.interruption is None:
        try:
            host.wait_for_sample(planned_stop)
        except RunInterrupted as exc:
            shot.interruption = exc
    stop = (planned_stop if shot.interruption is None
            else max(ref + 1, min(planned_stop, buf.end_sample)))
    start = max(ref - shot.pre_samples, buf.oldest_sample())
    edges = buf.trigger_edges(shot.mark, stop)
    first = shot.first if shot.first is not None or not edges.size else int(edges[0])
    return RecordedTrial(
        index=shot.index, step=shot.step, step_index=shot.step_index,
        kind="twitch" if spec.pulses == 1 else "tetanus",
        start_sample=int(start), stop_sample=int(stop),
        first_pulse_sample=first, pulse_samples=edges, requested_pulses=spec.pulses,
        current_mA=spec.current_mA, pulse_width_ms=spec.pulse_width_ms,
        frequency_hz=spec.frequency_hz if spec.pulses > 1 else None,
        status="aborted" if shot.interruption is not None else "completed",
        length_mm=host.length_mm, wall_time_s=shot.wall_time_s)


def _store(host: "TrialHost", shot: _Shot, trial: RecordedTrial) -> None:
    """5. store the trial (a store that fails ends the run) and announce it."""
    try:
        host.store_trial(trial)
    except Exception as exc:
        log.exception("storing trial %d failed", trial.index)
        if shot.interruption is None:
            shot.interruption = RunFailed(f"the recording could not store trial "
                                          f"{trial.index}: {exc}")
    host.emit(TrialRecorded(
        trial_index=trial.index, step_index=trial.step_index, step=trial.step, kind=trial.kind,
        status=trial.status, start_sample=trial.start_sample, stop_sample=trial.stop_sample,
        first_pulse_sample=trial.first_pulse_sample, pulses=trial.pulses,
        requested_pulses=trial.requested_pulses, current_mA=trial.current_mA,
        pulse_width_ms=trial.pulse_width_ms, frequency_hz=trial.frequency_hz,
        length_mm=trial.length_mm))


def _check_markers(trial: RecordedTrial, spec: StimulusSpec, warn: Callable[[str], None]) -> None:
    """Warn when the stream's markers do not match the stimulus requested."""
    if trial.first_pulse_sample is None:
        warn(f"trial {trial.index}: no stimulus marker in the stream; check the cable from the "
             f"stimulator's Sync output to the amplifier's trigger input")
    elif trial.pulses != spec.pulses:
        warn(f"trial {trial.index}: {trial.pulses} stimulus marker(s) in the stream, "
             f"{spec.pulses} requested")


def _off(host: "TrialHost") -> None:
    """Output off without raising (the stimulus was configured but never fired)."""
    try:
        host.stimulator.set_output(False)
    except Exception:
        host.emergency_off()


def _wait_first_edge(host: "TrialHost", mark: int, rate: float) -> int | None:
    """The first trigger edge at or after ``mark``, or None if none came within MARKER_WAIT_S."""
    buf = host.stream
    limit = mark + int(MARKER_WAIT_S * rate)
    while True:
        edges = buf.trigger_edges(mark)
        if edges.size:
            return int(edges[0])
        end = buf.end_sample
        if end >= limit:
            return None
        host.wait_for_sample(end + 1)


def _analyse(host: "TrialHost", trial: RecordedTrial) -> Delivered:
    """Analyse the trial from the runner's window (stream-relative), emit, return the peak
    and any doubt on it."""
    rate = host.sample_rate_hz
    force = host.stream.window(trial.start_sample, trial.stop_sample).force_mN
    rel = Trial(index=trial.index, kind=trial.kind, start_sample=0, stop_sample=int(force.size),
                stim_samples=(trial.pulse_samples - trial.start_sample).astype(np.int64),
                frequency_hz=trial.frequency_hz, current_mA=trial.current_mA,
                pulse_width_ms=trial.pulse_width_ms, status=trial.status, step=trial.step,
                length_mm=trial.length_mm)
    result = _analysis_result(host, force, rel, rate)
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
    host.record_analysis(TrialAnalysed(
        trial_index=trial.index, step_index=trial.step_index, step=trial.step, kind=trial.kind,
        status=trial.status, current_mA=trial.current_mA, frequency_hz=trial.frequency_hz,
        pulses=trial.pulses, length_mm=trial.length_mm, result=result))
    return Delivered(peak, peak_doubt(result), trial.index)


def peak_doubt(result: dict[str, Any]) -> str | None:
    """Why the peak of an analysed trial (``TrialResult.to_dict()`` form) should not be
    trusted for a decision, or None: a kept flag whose rule concerns the peak force
    (``app.analysis.flags``), or a refusal with a quality code (the number a step gets
    is then only :func:`simple_peak_mN`, e.g. of a stimulus artefact). A refusal without
    a code (no contraction above noise) is a real 'no response' and raises no doubt."""
    from app.analysis.flags import FLAGS
    flags = [f for f in result.get("flags") or [] if isinstance(f, dict) and f.get("code") in FLAGS]
    if result.get("error"):
        refused = [f for f in flags if FLAGS[f["code"]].how == "refused"]
        if refused:
            return f"refused ({refused[-1]['code']}): {result['error']}"
        return None
    doubts = [f for f in flags if "peak_force_mN" in FLAGS[f["code"]].measures]
    return "; ".join(f"{f['code']} ({f.get('text', '')})" for f in doubts) or None


def _analysis_result(host: "TrialHost", force: np.ndarray, rel: Trial, rate: float) -> dict[str, Any]:
    """The analyzer's result as a dict ({} without an analyzer, an error entry if it failed)."""
    analyzer = host.analyzer
    if analyzer is None or not force.size:
        return {}
    recording = Recording(source="live", format="myoforce-live", sample_rate_hz=rate,
                          force_mN=force, stim_samples=rel.stim_samples, trials=[rel])
    try:
        res = analyzer(recording, rel)
        return dict(res.to_dict()) if hasattr(res, "to_dict") else dict(res)
    except Exception as exc:
        log.exception("analysis of trial %d failed", rel.index)
        return {"error": f"analysis failed: {exc}"}


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
