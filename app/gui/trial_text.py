"""How replay names a trial: its line in the trial list and its details under the plot.

Both read the recording's trial (:class:`app.recording.Trial`) and, once the analysis
has run, its result row (``TrialResult.to_dict()``); values are labelled with units by
``app.labels``. A trial excluded from the session's numbers (``Recording.exclusions``)
says so with its reason in both.
"""
from __future__ import annotations

from typing import Any, Mapping

from app.recording import Trial

#: the result and trial fields shown under the trial's plot, in this order
DETAIL_KEYS = ["kind", "step", "frequency_hz", "pulses", "current_mA", "length_mm", "peak_force_mN",
               "time_to_peak_ms", "half_relaxation_ms", "rise_time_10_90_ms", "max_dfdt_mN_per_s",
               "baseline_mN", "error"]


def trial_list_label(t: Trial, r: Mapping[str, Any] | None, excluded: str | None = None) -> str:
    """``  3  tetanus 50 Hz  [step]  412 mN``: the trial, its step, and its peak once
    analysed (or that its analysis failed, or that it did not complete), and
    ``(excluded: REASON)`` when ``excluded`` (the reason) is given."""
    label = f"{t.index:3d}  {t.kind}"
    if t.frequency_hz:
        label += f" {t.frequency_hz:g} Hz"
    if t.step:
        label += f"  [{t.step}]"
    if r and r.get("peak_force_mN") is not None:
        label += f"  {r['peak_force_mN']:.0f} mN"
    elif r and r.get("error"):
        label += "  (failed)"
    if t.status != "completed":
        label += f"  ({t.status})"
    if excluded is not None:
        label += f"  (excluded: {excluded})"
    return label


def trial_details(t: Trial, r: Mapping[str, Any], excluded: str | None = None) -> str:
    """The trial's settings and results as one line of rich text (the peak named Po for
    a tetanus, Pt otherwise); a result value wins over the trial's own. ``excluded``
    (the reason) ends it with why the trial is left out of the session's numbers."""
    from html import escape

    from app.labels import describe, peak_name
    parts = [f"<b>trial {t.index}</b>"]
    for k in DETAIL_KEYS:
        name, text = describe(k, r.get(k, getattr(t, k, None)))
        if text:
            name = peak_name(r.get("kind", t.kind)) if k == "peak_force_mN" else name
            parts.append(f"{name} <b>{text}</b>" if k not in ("kind", "step") else text)
    if excluded is not None:
        parts.append(f"<span style='color:#b00020'>excluded from the session's numbers: "
                     f"{escape(excluded)}</span>")
    return "  ·  ".join(parts)
