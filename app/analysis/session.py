"""``analyze_recording``: every trial of a file, plus the per-session summary.

Summary (keys of ``SessionResult.summary``; definitions in docs/analysis.md):

* ``pt_mN``, ``tpt_ms``, ``half_relaxation_ms`` — from the twitch with the largest Pt
  (in Protocol 1 that is the supramaximal twitch at optimal length) or the mean of all
  twitches (``twitch_summary``);
* ``po_mN`` — the largest tetanic force of the session, ``pt_po_ratio`` = Pt / Po;
* ``force_frequency`` — force at each frequency (best contraction per frequency,
  excluding a fatigue series), normalised to its maximum, and the sigmoid fit
  (``fmin_mN``, ``fmax_mN``, ``f50_hz``, ``hill_slope`` repeated at top level);
* ``fatigue`` — a fatigue series (steps named 'fatigue', else the longest run of at
  least ``fatigue_min_trains`` identical tetani): ``fatigue_index`` = last / first
  force, and the time at which force first fell to 50 % of the first;
* ``specific_force_N_per_cm2`` = Po / CSA, CSA from muscle mass, optimal length and
  the fibre-to-muscle length ratio (``app.analysis.muscles``).
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from app.analysis.config import AnalysisConfig
from app.analysis.force_frequency import fit_force_frequency
from app.analysis.muscles import fibre_length_ratio, specific_force_n_per_cm2
from app.analysis.results import SessionResult, TrialResult
from app.analysis.trial import analyze_trial
from app.recording import Recording, trials_from_pulses

NAN = math.nan


def analyze_recording(recording: Recording, config: AnalysisConfig | None = None) -> SessionResult:
    """Analyse every trial of ``recording`` and summarise the session.

    Recordings without a trial table get their trials from the pulse markers. A file
    with no stimulus at all, or where no trial could be measured, has
    ``summary["error"]`` set (the CLI reports it as a failed file).
    """
    cfg = config or AnalysisConfig()
    trials = list(recording.trials)
    if not trials:
        trials = trials_from_pulses(recording.stim_samples, recording.sample_rate_hz,
                                    recording.samples)
    results = [analyze_trial(recording, t, cfg) for t in trials]
    summary = summarize(results, recording.metadata, cfg)
    if not trials:
        summary["error"] = ("no stimulus markers in the file: contractions cannot be "
                            "located (is the stimulus/trigger channel recorded?)")
    elif not any(r.ok for r in results):
        first = next((r.error for r in results if r.error), "unknown reason")
        summary["error"] = (f"none of the {len(results)} trial(s) could be measured "
                            f"(trial {results[0].index}: {first})")
    if recording.metadata.get("experiment") == "workloop":
        summary["notes"].append("work-loop recording: muscle length changes during the "
                                "trains, so isometric measures (Pt, Po, ½RT) do not apply")
    if not recording.complete:
        summary["notes"].append("the recording is incomplete (interrupted session)")
    return SessionResult(file=recording.source, format=recording.format,
                         metadata=dict(recording.metadata), trials=results, summary=summary)


def _finite(values: list[float]) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    return a[np.isfinite(a)]


def _freq_key(f: float) -> float:
    """Frequency for grouping: whole Hz when within 1 % of it (markers on whole samples
    make a 150 Hz train at 2 kHz measure 149.9 Hz), else to 0.1 Hz."""
    f = float(f)
    return float(round(f)) if abs(f - round(f)) <= 0.01 * f else round(f, 1)


def find_fatigue_series(tetani: list[TrialResult], min_trains: int) -> list[TrialResult]:
    """Tetani of a fatigue protocol: steps named 'fatigue', else the longest run of at
    least ``min_trains`` consecutive tetani with the same frequency and pulse count."""
    named = [t for t in tetani if re.search("fatigue", t.step or "", re.I)]
    if len(named) >= 2:
        return named
    best: list[TrialResult] = []
    run: list[TrialResult] = []
    for t in tetani:                    # per trial, not per sample
        if run and (t.pulses == run[-1].pulses and
                    abs(t.frequency_hz - run[-1].frequency_hz) <= 0.01 * run[-1].frequency_hz):
            run.append(t)
        else:
            run = [t]
        if len(run) > len(best):
            best = list(run)
    return best if len(best) >= min_trains else []


def summarize(results: list[TrialResult], metadata: dict[str, Any],
              cfg: AnalysisConfig) -> dict[str, Any]:
    """The per-session summary of already analysed trials (see module docstring)."""
    notes: list[str] = []
    # a work loop's length changes: its contractions are not isometric (no Pt/Po)
    ok = [r for r in results if r.ok and "not-isometric" not in r.flag_codes]
    twitches = [r for r in ok if r.kind == "twitch"]
    tetani = [r for r in ok if r.kind == "tetanus"]
    s: dict[str, Any] = {
        "n_trials": len(results), "n_twitches": len(twitches), "n_tetani": len(tetani),
        "n_failed": sum(1 for r in results if not r.ok),
        "pt_mN": NAN, "tpt_ms": NAN, "half_relaxation_ms": NAN, "pt_trial": None,
        "pt_current_mA": NAN, "pt_length_mm": NAN,
        "po_mN": NAN, "po_frequency_hz": NAN, "po_trial": None, "pt_po_ratio": NAN,
        "fmin_mN": NAN, "fmax_mN": NAN, "f50_hz": NAN, "hill_slope": NAN,
        "fatigue_index": NAN, "fatigue_time_to_50pct_s": NAN,
        "specific_force_N_per_cm2": NAN, "csa_mm2": NAN,
        "force_frequency": None, "fatigue": None, "notes": notes, "error": None,
    }

    # twitch
    if twitches:
        best = max(twitches, key=lambda r: r.peak_force_mN)
        s["pt_trial"] = best.index
        s["pt_current_mA"] = best.current_mA
        s["pt_length_mm"] = best.length_mm
        if cfg.twitch_summary == "max":
            s["pt_mN"], s["tpt_ms"] = best.peak_force_mN, best.time_to_peak_ms
            s["half_relaxation_ms"] = best.half_relaxation_ms
        else:
            for key, attr in (("pt_mN", "peak_force_mN"), ("tpt_ms", "time_to_peak_ms"),
                              ("half_relaxation_ms", "half_relaxation_ms")):
                v = _finite([getattr(r, attr) for r in twitches])
                s[key] = float(v.mean()) if v.size else NAN

    # tetani: Po, fatigue, force-frequency
    if tetani:
        top = max(tetani, key=lambda r: r.peak_force_mN)
        s["po_mN"], s["po_frequency_hz"], s["po_trial"] = (
            top.peak_force_mN, top.frequency_hz, top.index)
    if math.isfinite(s["pt_mN"]) and math.isfinite(s["po_mN"]) and s["po_mN"] > 0:
        s["pt_po_ratio"] = s["pt_mN"] / s["po_mN"]

    fatigue = find_fatigue_series(tetani, cfg.fatigue_min_trains)
    if fatigue:
        s["fatigue"] = _fatigue_summary(fatigue)
        s["fatigue_index"] = s["fatigue"]["index"]
        s["fatigue_time_to_50pct_s"] = s["fatigue"]["time_to_50pct_s"]
    in_fatigue = {id(t) for t in fatigue}
    ff_tetani = [t for t in tetani if id(t) not in in_fatigue]
    s["force_frequency"] = _force_frequency(ff_tetani, s if twitches else None, cfg)
    if s["force_frequency"]:
        fit = s["force_frequency"].get("fit") or {}
        for key in ("fmin_mN", "fmax_mN", "f50_hz", "hill_slope"):
            s[key] = fit.get(key, NAN)
        if s["force_frequency"].get("note"):
            notes.append(s["force_frequency"]["note"])

    _specific_force(s, metadata, cfg, notes)
    return s


def _fatigue_summary(series: list[TrialResult]) -> dict[str, Any]:
    force = np.array([t.peak_force_mN for t in series])
    time = np.array([t.stim_time_s for t in series]) - series[0].stim_time_s
    first, last = float(force[0]), float(force[-1])
    half = 0.5 * first
    below = np.flatnonzero(force <= half)
    t50 = NAN
    if below.size:
        i = int(below[0])
        # linear interpolation between the last train above and the first at/below 50 %
        t50 = float(np.interp(half, [force[i], force[i - 1]], [time[i], time[i - 1]]))
    return {"n_trains": len(series), "frequency_hz": series[0].frequency_hz,
            "trials": [t.index for t in series], "first_mN": first, "last_mN": last,
            "index": last / first if first > 0 else NAN, "time_to_50pct_s": t50,
            "time_s": time.tolist(), "force_mN": force.tolist()}


def _force_frequency(tetani: list[TrialResult], twitch_summary: dict | None,
                     cfg: AnalysisConfig) -> dict[str, Any] | None:
    points: dict[float, float] = {}
    for t in tetani:
        if math.isfinite(t.frequency_hz):
            k = _freq_key(t.frequency_hz)
            points[k] = max(points.get(k, -math.inf), t.peak_force_mN)
    if not points:
        return None
    if cfg.ff_include_twitch and twitch_summary and math.isfinite(twitch_summary["pt_mN"]):
        points.setdefault(1.0, twitch_summary["pt_mN"])
    freq = np.array(sorted(points))
    force = np.array([points[f] for f in freq])
    out: dict[str, Any] = {
        "frequency_hz": freq.tolist(), "force_mN": force.tolist(),
        "force_normalized": (force / force.max()).tolist() if force.max() > 0 else None,
        "fit": None, "note": "",
    }
    if freq.size >= 2:
        fit, note = fit_force_frequency(freq, force)
        out["fit"] = fit.to_dict() if fit else None
        out["note"] = note
    return out


def _specific_force(s: dict[str, Any], metadata: dict[str, Any], cfg: AnalysisConfig,
                    notes: list[str]) -> None:
    po = s["po_mN"]
    if not math.isfinite(po):
        return
    mass, lo = metadata.get("muscle_mass_mg"), metadata.get("muscle_length_mm")
    muscle = metadata.get("muscle")
    if cfg.fibre_length_ratio is not None:
        ratio, source = cfg.fibre_length_ratio, "given by the user"
    else:
        tab = fibre_length_ratio(muscle)
        ratio, source = (tab.ratio, tab.source) if tab else (None, None)
    if mass and lo and ratio:
        sf, csa = specific_force_n_per_cm2(po, float(mass), float(lo), ratio,
                                           cfg.muscle_density_g_cm3)
        s.update(specific_force_N_per_cm2=sf, csa_mm2=csa, fibre_length_ratio=ratio,
                 fibre_length_ratio_source=source)
        return
    area = metadata.get("reference_area_mm2")
    if area:
        s.update(specific_force_N_per_cm2=(po / 1000.0) / (float(area) / 100.0),
                 csa_mm2=float(area))
        notes.append("specific force uses the cross-sectional area recorded in the file")
        return
    missing = [n for n, v in (("muscle_mass_mg", mass), ("muscle_length_mm", lo)) if not v]
    if not ratio:
        missing.append(f"a fibre-length ratio for muscle {muscle!r} "
                       f"(pass fibre_length_ratio)" if muscle else "muscle")
    notes.append("specific force not computed: missing " + ", ".join(missing))
