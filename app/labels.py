"""Names and units of the fields people read: one place for the terminal, the GUI panels
and the figures, so a measure is called and scaled the same everywhere.

A field name carries its unit (``peak_force_mN``, ``body_mass_g``); :func:`describe`
turns a ``(key, value)`` into a label and a value with its unit for a panel, and
:func:`summary_parts` writes the session summary (Pt, TPT, ½RT, Po, Pt/Po, f50, Hill
slope, fatigue index, specific force) with units.
"""
from __future__ import annotations

import math
from typing import Any

#: key -> (label, unit, decimals); decimals None: as given
FIELDS: dict[str, tuple[str, str, int | None]] = {
    "pt_mN": ("Pt", "mN", 1), "tpt_ms": ("TPT", "ms", 1), "half_relaxation_ms": ("½RT", "ms", 1),
    "po_mN": ("Po", "mN", 1), "pt_po_ratio": ("Pt/Po", "", 3), "f50_hz": ("f50", "Hz", 1),
    "hill_slope": ("Hill slope", "", 2), "fatigue_index": ("fatigue index", "", 3),
    "specific_force_N_per_cm2": ("specific force", "N/cm²", 2),
    "peak_force_mN": ("peak", "mN", 1), "time_to_peak_ms": ("TPT", "ms", 1),
    "rise_time_10_90_ms": ("rise 10–90 %", "ms", 1), "latency_ms": ("latency", "ms", 2),
    "max_dfdt_mN_per_s": ("max dF/dt", "mN/s", 0), "min_dfdt_mN_per_s": ("min dF/dt", "mN/s", 0),
    "baseline_mN": ("baseline", "mN", 1), "frequency_hz": ("frequency", "Hz", None),
    "current_mA": ("current", "mA", 2), "length_mm": ("length", "mm", 2), "pulses": ("pulses", "", None),
    "sample_rate_hz": ("sample rate", "Hz", None), "duration_s": ("duration", "s", 1),
    "body_mass_g": ("body mass", "g", None), "muscle_mass_mg": ("muscle mass", "mg", None),
    "muscle_length_mm": ("muscle length", "mm", None), "temperature_C": ("temperature", "°C", None),
    "start_time_utc": ("started (UTC)", "", None), "end_time_utc": ("ended (UTC)", "", None),
    "gap_samples": ("samples in gaps", "", None), "lost_samples": ("samples lost", "", None),
    "audit_entries": ("audit log entries", "", None), "aborted_trials": ("aborted trials", "", None),
    "recovered_from": ("recovered from", "", None), "protocol": ("protocol stored", "", None),
    "complete": ("complete", "", None), "stimuli": ("stimulus pulses", "", None),
    "subject_id": ("subject", "", None), "format_version": ("format version", "", None),
    "software_version": ("written by myoforce", "", None), "csa_mm2": ("CSA", "mm²", 2),
}

#: the session summary, in reading order
SUMMARY_KEYS = ("pt_mN", "tpt_ms", "half_relaxation_ms", "po_mN", "pt_po_ratio", "f50_hz",
                "hill_slope", "fatigue_index", "specific_force_N_per_cm2")


def label(key: str) -> str:
    """Human label of a field: its known name, or the key with underscores as spaces."""
    if key in FIELDS:
        return FIELDS[key][0]
    return key.replace("_", " ")


def value_text(key: str, value: Any) -> str:
    """The value with its unit ('' for a missing value; yes/no for booleans)."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    unit = FIELDS.get(key, ("", "", None))[1]
    decimals = FIELDS.get(key, ("", "", None))[2]
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        text = f"{value:.{decimals}f}" if decimals is not None else f"{value:.6g}"
    elif isinstance(value, int):
        text = f"{value:,}" if abs(value) >= 10_000 else str(value)
    else:
        text = str(value)
    return f"{text} {unit}".rstrip() if unit else text


def peak_name(kind: str | None) -> str:
    """What a trial's peak force is called: Pt for a twitch, Po for a tetanus (any kind
    that is not a twitch is read as a tetanic peak); docs/ define both."""
    return "Pt" if kind == "twitch" else "Po"


def describe(key: str, value: Any) -> tuple[str, str]:
    """``(label, value with unit)`` for a panel row."""
    return label(key), value_text(key, value)


def summary_parts(summary: dict[str, Any]) -> list[str]:
    """'Pt 595.5 mN', 'TPT 14.2 ms', … for every summary measure ('–' when missing)."""
    parts = []
    for key in SUMMARY_KEYS:
        name, unit, decimals = FIELDS[key]
        v = summary.get(key)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        text = f"{float(v):.{decimals}f}" if ok else "–"
        sd = summary.get(key.replace("_mN", "_sd_mN")) if key == "pt_mN" else None
        if ok and isinstance(sd, float) and math.isfinite(sd):
            text += f" ± {sd:.{decimals}f}"          # mean ± SD of the session twitches
        part = f"{name} {text}" + (f" {unit}" if unit else "")
        if key == "po_mN" and ok and summary.get("po_flags"):
            # the Po tetanus's peak is flagged: name the trial (the notes say why)
            part += f" ⚑ trial {summary.get('po_trial')}"
        parts.append(part)
    return parts
