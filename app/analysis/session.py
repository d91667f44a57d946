"""``analyze_recording``: every trial of a file, plus the per-session summary.

The summary is a :class:`~app.analysis.summary.SessionSummary` (definitions in
docs/analysis.md §5):

* ``pt_mN`` ± ``pt_sd_mN``, ``tpt_ms``, ``half_relaxation_ms``... — mean of the twitches
  of the protocol's twitch step before the first tetanus (:func:`session_twitches`);
  ``ptp_ratio`` — post-tetanic potentiation;
* ``po_mN`` — the largest tetanic force of the session, ``pt_po_ratio`` = Pt / Po;
  ``po_flags`` / ``po_flag_text`` name that tetanus when a flag concerns its peak;
* ``force_frequency`` — force at each frequency (best contraction per frequency,
  excluding a fatigue series), normalised to its maximum, and the sigmoid fit;
  ``f50_hz`` is where the fitted curve reaches 50 % of its maximum,
  ``sigmoid_midpoint_hz`` the sigmoid's midpoint;
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
from app.analysis.muscles import (
    canonical_muscle, fibre_length_ratio, missing_ratio_reason, specific_force_n_per_cm2,
)
from app.analysis.results import SessionResult, TrialResult
from app.analysis.summary import SessionSummary
from app.analysis.trial import analyze_trial
from app.recording import Recording, trials_from_pulses

NAN = math.nan


def analyze_recording(recording: Recording, config: AnalysisConfig | None = None) -> SessionResult:
    """Analyse every trial of ``recording`` and summarise the session.

    Recordings without a trial table get their trials from the pulse markers. A file
    with no stimulus at all, or where no trial could be measured, has
    ``summary.error`` set (the CLI reports it as a failed file).
    """
    cfg = config or AnalysisConfig()
    trials = list(recording.trials)
    if not trials or (recording.trials_from_markers and cfg.train_min_hz != 1.0):
        trials = trials_from_pulses(recording.stim_samples, recording.sample_rate_hz,
                                    recording.samples, train_min_hz=cfg.train_min_hz)
    from app.file_metadata import readable_metadata
    metadata, unusable = readable_metadata(dict(recording.metadata))   # inf/nan: noted, not used
    if cfg.metadata_overrides:
        metadata.update(dict(cfg.metadata_overrides))
    results = [analyze_trial(recording, t, cfg) for t in trials]
    from app.analysis.exclusions import flag_excluded
    excluded, excluded_notes = flag_excluded(results, recording.exclusions)
    summary = summarize(results, metadata, cfg)
    summary.excluded_trials = excluded
    summary.notes.extend(excluded_notes)
    summary.notes.extend(unusable)
    if cfg.metadata_overrides:
        summary.notes.append("metadata given with --meta: " + ", ".join(
            f"{k} = {v}" for k, v in cfg.metadata_overrides))
    if not trials:
        summary.error = ("no stimulus markers in the file: contractions cannot be "
                            "located (is the stimulus/trigger channel recorded?)")
    elif not any(r.ok for r in results):
        first = next((r.error for r in results if r.error), "unknown reason")
        summary.error = (f"none of the {len(results)} trial(s) could be measured "
                            f"(trial {results[0].index}: {first})")
    if recording.metadata.get("experiment") == "workloop":
        summary.notes.append("work-loop recording: muscle length changes during the "
                             "trains, so isometric measures (Pt, Po, ½RT) do not apply and "
                             "the session has no Po")
    if not recording.complete:
        summary.notes.append("the recording is incomplete (interrupted session)")
    return SessionResult(file=recording.source, format=recording.format,
                         metadata=metadata, trials=results, summary=summary)


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
              cfg: AnalysisConfig) -> SessionSummary:
    """The per-session summary of already analysed trials (docs/analysis.md §5)."""
    # a work loop's contractions are not isometric (no Pt/Po), a researcher's excluded
    # trial must not count: measured, but left out of every session number
    ok = [r for r in results if r.in_session]
    twitches = [r for r in ok if r.kind == "twitch"]
    tetani = [r for r in ok if r.kind == "tetanus"]
    s = SessionSummary(n_trials=len(results), n_twitches=len(twitches), n_tetani=len(tetani),
                       n_failed=sum(1 for r in results if not r.ok),
                       n_flagged=sum(1 for r in results if r.ok and r.flags))
    _twitch_summary(s, ok, cfg, _first_tetanus(results))
    if tetani:
        top = max(tetani, key=lambda r: r.peak_force_mN)
        s.po_mN, s.po_frequency_hz, s.po_trial = top.peak_force_mN, top.frequency_hz, top.index
        s.po_time_to_90pct_ms = top.time_to_90pct_ms
        _po_flags(s, top, tetani)
    if math.isfinite(s.pt_mN) and math.isfinite(s.po_mN) and s.po_mN > 0:
        s.pt_po_ratio = s.pt_mN / s.po_mN

    fatigue = find_fatigue_series(tetani, cfg.fatigue_min_trains)
    if fatigue:
        s.fatigue = _fatigue_summary(fatigue)
        s.fatigue_index = s.fatigue["index"]
        s.fatigue_time_to_50pct_s = s.fatigue["time_to_50pct_s"]
    in_fatigue = {id(t) for t in fatigue}
    ff_tetani = [t for t in tetani if id(t) not in in_fatigue]
    s.force_frequency = _force_frequency(ff_tetani, s.pt_mN, cfg)
    if s.force_frequency:
        fit = s.force_frequency.get("fit") or {}
        s.fmin_mN, s.fmax_mN = fit.get("fmin_mN", NAN), fit.get("fmax_mN", NAN)
        s.f50_hz, s.hill_slope = fit.get("f50_hz", NAN), fit.get("hill_slope", NAN)
        s.sigmoid_midpoint_hz = fit.get("midpoint_hz", NAN)
        if s.force_frequency.get("note"):
            s.notes.append(s.force_frequency["note"])
    _specific_force(s, metadata, cfg)
    return s


def _po_flags(s: SessionSummary, top: TrialResult, tetani: list[TrialResult]) -> None:
    """Name the Po tetanus when a flag on it concerns its peak force (§5): Po stays the
    largest tetanic force, but the summary says which trial it came from, which flags,
    and the largest tetanus whose peak carries no flag (the value Po falls back to if
    the flagged one is not trusted)."""
    concern = [f for f in top.flags if "peak_force_mN" in f.rule.measures]
    if not concern:
        return
    s.po_flags = [f.code for f in concern]
    clean = [t for t in tetani if "peak_force_mN" not in t.flagged_measures()]
    best = max(clean, key=lambda r: r.peak_force_mN) if clean else None
    alt = (f"the largest tetanus without such a flag is trial {best.index} "
           f"({best.frequency_hz:.0f} Hz, {best.peak_force_mN:.1f} mN)" if best is not None
           else "no tetanus of the session is free of such a flag")
    s.po_flag_text = (f"Po {top.peak_force_mN:.1f} mN is from trial {top.index} "
                      f"({top.frequency_hz:.0f} Hz), whose peak is flagged "
                      + "; ".join(f"{f.code} ({f.text})" for f in concern) + f"; {alt}")
    s.notes.append(s.po_flag_text)


def _first_tetanus(results: list[TrialResult]) -> TrialResult | None:
    """The first tetanus delivered, measured or not: a refused one (damaged data, clipped)
    still potentiated the twitches after it, so it still ends the pre-tetanus twitches."""
    timed = [r for r in results if r.kind == "tetanus" and math.isfinite(r.stim_time_s)]
    return min(timed, key=lambda r: r.stim_time_s) if timed else None


def session_twitches(ok: list[TrialResult], cfg: AnalysisConfig,
                     first_tetanus: TrialResult | None = None
                     ) -> tuple[list[TrialResult], str]:
    """The twitches that give the session Pt, and the rule that chose them (§5).

    ``protocol`` (default): the twitches of the last protocol step with twitches before
    the first tetanus (Protocol 1's twitch step at optimal length, after the supramaximal
    and length searches); without step names, the twitches before the first tetanus
    within 10 % of the largest of them (the plateau of a search). ``max``: the largest
    twitch; ``mean``: every twitch. ``first_tetanus``: the first tetanus delivered
    (:func:`_first_tetanus`, also when it was refused); default: the first measured one.
    """
    twitches = [r for r in ok if r.kind == "twitch"]
    if not twitches:
        return [], ""
    if cfg.twitch_summary == "max":
        return [max(twitches, key=lambda r: r.peak_force_mN)], "the largest twitch"
    if cfg.twitch_summary == "mean":
        return twitches, "mean of all twitches"
    if first_tetanus is None:
        first_tetanus = next((r for r in ok if r.kind == "tetanus"), None)
    if first_tetanus is None:
        before, where = twitches, "(no tetanus)"
    else:
        before = [r for r in twitches if r.stim_time_s < first_tetanus.stim_time_s]
        where = "before the first tetanus"
    if not before:
        before, where = twitches, "(none before the first tetanus: all twitches)"
    step = before[-1].step
    if step:
        chosen = [r for r in before if r.step == step]
        return chosen, f"mean of the {len(chosen)} twitch(es) of step '{step}' {where}"
    top = max(r.peak_force_mN for r in before)
    chosen = [r for r in before if r.peak_force_mN >= 0.9 * top]
    return chosen, (f"mean of the {len(chosen)} twitch(es) {where} within 10 % of the "
                    f"largest")


def _mean_sd(values: list[float]) -> tuple[float, float]:
    v = _finite(values)
    if v.size == 0:
        return NAN, NAN
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else NAN


def _twitch_summary(s: SessionSummary, ok: list[TrialResult], cfg: AnalysisConfig,
                    first_tet: TrialResult | None = None) -> None:
    """Pt, TPT, ½RT (mean ± SD) and kinetics of the session twitches; potentiation.
    ``first_tet``: the first tetanus delivered, measured or not (:func:`_first_tetanus`)."""
    chosen, rule = session_twitches(ok, cfg, first_tet)
    if not chosen:
        return
    s.pt_rule, s.pt_n, s.pt_trials = rule, len(chosen), [r.index for r in chosen]
    s.pt_mN, s.pt_sd_mN = _mean_sd([r.peak_force_mN for r in chosen])
    s.tpt_ms, s.tpt_sd_ms = _mean_sd([r.time_to_peak_ms for r in chosen])
    s.half_relaxation_ms, s.half_relaxation_sd_ms = _mean_sd(
        [r.half_relaxation_ms for r in chosen])
    s.contraction_time_ms = _mean_sd([r.contraction_time_ms for r in chosen])[0]
    s.rfd_10_90_mN_per_s = _mean_sd([r.rfd_10_90_mN_per_s for r in chosen])[0]
    s.dfdt_per_peak_per_s = _mean_sd([r.dfdt_per_peak_per_s for r in chosen])[0]
    best = max(chosen, key=lambda r: r.peak_force_mN)
    s.pt_trial, s.pt_current_mA, s.pt_length_mm = best.index, best.current_mA, best.length_mm
    flagged = sum(1 for r in chosen if r.flags)
    if flagged:
        s.notes.append(f"{flagged} of the {len(chosen)} session twitch(es) carry quality flags")
    # post-tetanic potentiation: the first twitch after the first tetanus / session Pt
    if first_tet is None:
        first_tet = next((r for r in ok if r.kind == "tetanus"), None)
    if first_tet is None or not s.pt_mN > 0:
        return
    after = next((r for r in ok if r.kind == "twitch"
                  and r.stim_time_s > first_tet.stim_time_s), None)
    if after is not None and after.index not in s.pt_trials:
        s.ptp_ratio, s.ptp_trial = after.peak_force_mN / s.pt_mN, after.index
        s.notes.append(f"post-tetanic potentiation from trial {after.index}, "
                       f"{after.stim_time_s - first_tet.stim_time_s:.1f} s after the first "
                       f"tetanus (trial {first_tet.index})")


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


def _force_frequency(tetani: list[TrialResult], pt_mN: float,
                     cfg: AnalysisConfig) -> dict[str, Any] | None:
    points: dict[float, float] = {}
    for t in tetani:
        if math.isfinite(t.frequency_hz):
            k = _freq_key(t.frequency_hz)
            points[k] = max(points.get(k, -math.inf), t.peak_force_mN)
    if not points:
        return None
    if cfg.ff_include_twitch and math.isfinite(pt_mN):
        points.setdefault(1.0, pt_mN)
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


def _specific_force(s: SessionSummary, metadata: dict[str, Any], cfg: AnalysisConfig) -> None:
    po = s.po_mN
    if not math.isfinite(po):
        return
    mass, lo = metadata.get("muscle_mass_mg"), metadata.get("muscle_length_mm")
    muscle = metadata.get("muscle")
    per_muscle = cfg.fibre_ratio_overrides().get(canonical_muscle(muscle) or "")
    if cfg.fibre_length_ratio is not None:
        ratio, source = cfg.fibre_length_ratio, "given by the user"
    elif per_muscle is not None:
        ratio, source = per_muscle, "given by the user for this muscle"
    else:
        tab = fibre_length_ratio(muscle, metadata.get("species"))
        ratio, source = (tab.ratio, tab.source) if tab else (None, None)
    if mass and lo and ratio:
        sf, csa = specific_force_n_per_cm2(po, float(mass), float(lo), ratio,
                                           cfg.muscle_density_g_cm3)
        s.specific_force_N_per_cm2, s.csa_mm2 = sf, csa
        s.muscle_mass_mg, s.muscle_length_mm = float(mass), float(lo)
        s.fibre_length_ratio, s.fibre_length_ratio_source = ratio, source or ""
        return
    area = metadata.get("reference_area_mm2")
    if area:
        s.specific_force_N_per_cm2 = (po / 1000.0) / (float(area) / 100.0)
        s.csa_mm2 = float(area)
        s.notes.append("specific force uses the cross-sectional area recorded in the file")
        return
    missing = [n for n, v in (("muscle_mass_mg", mass), ("muscle_length_mm", lo)) if not v]
    known_later = list(missing)
    if not ratio:
        reason, field = missing_ratio_reason(muscle, metadata.get("species"))
        missing.append(reason)
        known_later += [field] if field else []
    s.notes.append("specific force not computed: missing " + ", ".join(missing)
                   + (f"; add {'them' if len(known_later) > 1 else 'it'} with 'myoforce "
                      f"annotate FILE {' '.join(n + '=...' for n in known_later)}'"
                      if known_later else ""))
