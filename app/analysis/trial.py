"""``analyze_trial``: one contraction in, one :class:`TrialResult` out, never an exception.

A bad signal (no pulse, lost samples, clipping, no contraction) is a normal outcome of
an experiment, so it is reported in ``TrialResult.error`` with NaN measures instead of
being raised: one bad trial must not stop the analysis of a session.
"""
from __future__ import annotations

import math

import numpy as np

from app.analysis.checks import HALF_RELAXATION_TOL_MS
from app.analysis.config import AnalysisConfig
from app.analysis.contraction import Segment, TrialFailed, prepare
from app.analysis.flags import Flag
from app.analysis.results import TrialResult
from app.analysis.tetanus import measure_tetanus
from app.analysis.twitch import measure_twitch
from app.errors import FileFormatError
from app.recording import Recording, Trial, train_frequency


def _num(v: float | None) -> float:
    return math.nan if v is None else float(v)


def trial_frequency(trial: Trial, fs: float) -> float:
    """Pulse frequency: the recorded/protocol value, else from the pulse spacing."""
    if trial.frequency_hz:
        return float(trial.frequency_hz)
    return train_frequency(np.asarray(trial.stim_samples), fs)


def analyze_trial(recording: Recording, trial: Trial,
                  config: AnalysisConfig | None = None) -> TrialResult:
    """Measure one twitch or tetanus (see docs/analysis.md for the definitions).

    The trial is analysed as a twitch when it has one pulse and as a tetanus when it
    has several. Marker indices in the result are recording-relative.
    """
    cfg = config or AnalysisConfig()
    fs = float(recording.sample_rate_hz)
    stim = np.asarray(trial.stim_samples, dtype=np.int64)
    res = _new_result(recording, trial, stim, fs)
    kind = res.kind
    seg: Segment | None = None
    try:
        seg = prepare(recording, trial, cfg)
        m = measure_twitch(seg, cfg) if kind == "twitch" else measure_tetanus(seg, cfg)
    except TrialFailed as exc:
        res.error = str(exc)
        if seg is not None:             # what was found before the refusal explains it
            res.flags.extend(seg.flags)
        if exc.code:
            res.flags.append(Flag(exc.code, str(exc)))
        return res
    except FileFormatError as exc:      # damaged samples (app.recorder.integrity): refused
        res.error = str(exc)
        res.flags.append(Flag("damaged", str(exc)))
        return res
    except Exception as exc:            # a bad signal must never abort a session
        res.error = f"analysis failed ({type(exc).__name__}: {exc})"
        return res

    _store_measures(res, seg, m, cfg)
    return res


def _new_result(recording: Recording, trial: Trial, stim: np.ndarray, fs: float) -> TrialResult:
    """The result before measuring: what the trial is, with notes and flags on how it was
    recorded (kind mismatch, not completed, work loop)."""
    pulses = int(stim.size)
    kind = trial.kind if pulses == 0 else ("twitch" if pulses == 1 else "tetanus")
    res = TrialResult(
        index=int(trial.index), kind=kind, step=trial.step or "", status=trial.status,
        stim_time_s=float(stim[0]) / fs if pulses else math.nan,
        frequency_hz=trial_frequency(trial, fs) if kind == "tetanus" else math.nan,
        pulses=pulses, current_mA=_num(trial.current_mA), length_mm=_num(trial.length_mm))
    if pulses and kind != trial.kind:
        res.notes.append(f"recorded as {trial.kind} but has {pulses} pulse(s); "
                         f"analysed as {kind}")
    if trial.status != "completed":
        res.notes.append(f"trial status: {trial.status}")
        if trial.status == "aborted":
            res.flags.append(Flag("aborted", "trial aborted during recording"))
    if recording.metadata.get("experiment") == "workloop":
        res.flags.append(Flag("not-isometric", "work loop: muscle length changes during "
                                               "the contraction"))
    return res


def _store_measures(res: TrialResult, seg: Segment, m: dict[str, float],
                    cfg: AnalysisConfig) -> None:
    """The measures, derived measures, notes, flags and recording-relative markers."""
    ms = seg.ms
    s = float(seg.first)
    res.baseline_mN = seg.baseline
    res.peak_force_mN = m["amplitude"]
    res.time_to_peak_ms = ms(m["peak"] - s)
    res.half_relaxation_ms = ms(m["relax"] - m["relax_ref"])
    res.rise_time_10_90_ms = ms(m["rise_high"] - m["rise_low"])
    res.latency_ms = ms(m["onset"] - s)
    res.max_dfdt_mN_per_s = m["dfdt_max"]
    res.min_dfdt_mN_per_s = m["dfdt_min"]
    res.force_time_integral_mN_s = m["fti"]
    res.fusion_index = m["fusion_index"]
    _derived_measures(res, seg, m, cfg)
    res.notes.extend(seg.notes)
    res.flags.extend(seg.flags)
    _baseline_shift(res, seg, m, cfg)
    if not math.isfinite(res.rise_time_10_90_ms) or not math.isfinite(res.latency_ms):
        res.notes.append("force was not at baseline before the rise; rise time/latency "
                         "not measured")
    off = seg.offset
    res.markers = {
        "window_start": float(off), "window_stop": float(off + seg.raw.size),
        "stim": off + s, "last_stim": float(off + seg.last),
        "onset": off + m["onset"], "rise_low": off + m["rise_low"],
        "rise_high": off + m["rise_high"], "peak": off + m["peak"],
        "po": off + m.get("po_sample", m["peak"]),      # where Pt/Po was read
        "relax_ref": off + m["relax_ref"], "relax": off + m["relax"],
        "relax_level_mN": m["relax_level"], "fti_end": off + m["fti_end"],
    }
    if seg.trend is not None:           # baseline-drift: the removed trend, for drawing
        res.markers.update(_trend_markers(seg, m))


def _trend_markers(seg: Segment, m: dict[str, float]) -> dict[str, float]:
    """The removed baseline trend (mN, add to baseline-relative levels) at the stimulus,
    peak and relaxation point, and at the window's ends: a figure draws the baseline
    through them and puts Pt and ½RT on the recorded trace."""
    trend = seg.trend

    def at(i: float) -> float:
        return float(np.interp(i, np.arange(trend.size), trend)) if np.isfinite(i) else math.nan

    return {"trend_start_mN": at(0), "trend_stim_mN": at(seg.first), "trend_peak_mN": at(m["peak"]),
            "trend_relax_mN": at(m["relax"]), "trend_stop_mN": at(seg.raw.size - 1)}


def _derived_measures(res: TrialResult, seg: Segment, m: dict[str, float],
                      cfg: AnalysisConfig) -> None:
    """Contraction time, RFD 10-90 %, dF/dt per peak, time to 90 % (docs/analysis.md)."""
    res.contraction_time_ms = res.time_to_peak_ms - res.latency_ms
    rise_s = res.rise_time_10_90_ms / 1000.0
    span = (cfg.rise_high_percent - cfg.rise_low_percent) / 100.0 * res.peak_force_mN
    res.rfd_10_90_mN_per_s = span / rise_s if rise_s > 0 else math.nan
    if res.peak_force_mN > 0:
        res.dfdt_per_peak_per_s = res.max_dfdt_mN_per_s / res.peak_force_mN
    res.time_to_90pct_ms = seg.ms(m["rise_high"] - seg.first)


#: length of the end-of-window stretch compared with the pre-stimulus baseline
SETTLED_MS = 20.0


def _baseline_shift(res: TrialResult, seg: Segment, m: dict[str, float],
                    cfg: AnalysisConfig) -> None:
    """Flag force that settles away from the pre-stimulus baseline after relaxation: the
    mean of the last 20 ms of the window, once force has relaxed past the FTI end or has
    stopped changing (the last 20 ms within 3 noise SE, or 10 % of the offset, of the 20
    ms before: a shifted baseline, not a contraction still relaxing)."""
    n = max(3, int(round(SETTLED_MS * seg.fs / 1000.0)))
    end = m["fti_end"]
    if seg.raw.size < 2 * n:
        return
    last = float(seg.raw[-n:].mean())
    shift = last - seg.baseline
    change = last - float(seg.raw[-2 * n:-n].mean())
    settled = abs(change) <= max(3.0 * seg.noise_sd * math.sqrt(2.0 / n), 0.1 * abs(shift))
    relaxed = math.isfinite(end) and end <= seg.raw.size - n
    if not (relaxed or settled):
        return
    limit = max(cfg.baseline_shift_percent / 100.0 * res.peak_force_mN, 5.0 * seg.noise_sd)
    if cfg.baseline_shift_percent > 0 and abs(shift) > limit:
        res.flags.append(Flag(
            "baseline-shift", f"force settles {shift:+.4g} mN ({100 * shift / res.peak_force_mN:+.0f} "
                              f"% of the peak) from the pre-stimulus baseline after relaxation"))
    elif (shift < 0 or settled) and abs(shift) > 5.0 * seg.noise_sd:
        _settled_offset_on_relaxation(res, seg, m, shift)


def _settled_offset_on_relaxation(res: TrialResult, seg: Segment, m: dict[str, float],
                                  shift: float) -> None:
    """Flag ``relaxation-drift`` when the offset force settles at after relaxation could
    have moved ½RT beyond its tolerance. Whatever brought the force from the baseline to
    ``shift`` (a tail whose shoulder sat flat in the baseline window is invisible there)
    lifted the force at the crossing and the level by at most |shift| together, so the
    crossing moved by at most |shift| / |dF/dt| there. Below the baseline the offset
    cannot be the contraction's own tail; above it only once force has stopped changing."""
    if set(res.flagged_measures()) & {"half_relaxation_ms"}:
        return
    i = m["relax"]
    if not math.isfinite(i) or not 0 <= int(round(i)) < seg.dfdt.size:
        return
    rate = abs(float(seg.dfdt[int(round(i))]))
    tol = max(HALF_RELAXATION_TOL_MS, 1000.0 / seg.fs)
    if rate > 0 and 1000.0 * abs(shift) / rate > tol:
        res.flags.append(Flag(
            "relaxation-drift",
            f"force settles {shift:+.4g} mN from the pre-stimulus baseline after relaxation: "
            f"a trend that brought it there could move ½RT by up to "
            f"{1000.0 * abs(shift) / rate:.2g} ms (tolerance {tol:.2g} ms)"))
