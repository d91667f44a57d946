"""Result records of the analysis, and their plain-dict (JSON/CSV) form.

Missing values are NaN in the dataclasses (so arithmetic and numpy work on them) and
``None`` in :meth:`to_dict` output (so JSON stays standard: no ``NaN`` tokens).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from app.analysis.flags import Flag
from app.analysis.summary import SessionSummary

NAN = float("nan")

#: keys of :meth:`TrialResult.to_dict`, in the order used for tables and CSV files
TRIAL_KEYS = (
    "index", "kind", "step", "status", "stim_time_s", "frequency_hz", "pulses",
    "current_mA", "length_mm", "baseline_mN", "peak_force_mN", "time_to_peak_ms",
    "half_relaxation_ms", "rise_time_10_90_ms", "latency_ms", "contraction_time_ms",
    "max_dfdt_mN_per_s", "min_dfdt_mN_per_s", "rfd_10_90_mN_per_s", "dfdt_per_peak_per_s",
    "time_to_90pct_ms", "force_time_integral_mN_s", "fusion_index", "error",
)


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy types made plain and NaN/inf turned into None, recursively."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (SessionSummary, Flag)):
        return jsonable(obj.to_dict())
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


@dataclass
class TrialResult:
    """Measures of one contraction. Times in ms from the (first) pulse unless stated.

    ``peak_force_mN`` is Pt for a twitch and Po for a tetanus, always above baseline.
    ``markers`` holds recording-relative fractional sample indices of the points the
    measures were taken at (stimulus, onset, 10/90 % rise, peak, relaxation level, end
    of the force-time integral, analysed window), for plots and audits.
    """

    index: int
    kind: str
    step: str = ""
    status: str = "completed"
    stim_time_s: float = NAN
    frequency_hz: float = NAN
    pulses: int = 0
    current_mA: float = NAN
    length_mm: float = NAN
    baseline_mN: float = NAN
    peak_force_mN: float = NAN
    time_to_peak_ms: float = NAN
    half_relaxation_ms: float = NAN
    rise_time_10_90_ms: float = NAN
    latency_ms: float = NAN
    contraction_time_ms: float = NAN       # TPT − latency
    max_dfdt_mN_per_s: float = NAN
    min_dfdt_mN_per_s: float = NAN
    rfd_10_90_mN_per_s: float = NAN        # (90 % − 10 %) of the peak / 10-90 % rise time
    dfdt_per_peak_per_s: float = NAN       # +dF/dt / peak force
    time_to_90pct_ms: float = NAN          # first pulse → 90 % of the peak
    force_time_integral_mN_s: float = NAN
    fusion_index: float = NAN
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    markers: dict[str, float] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)

    @property
    def flag_codes(self) -> list[str]:
        """This trial's quality-flag codes (the rule is :func:`flag_codes`)."""
        return flag_codes(self)

    def flagged_measures(self) -> set[str]:
        """Measures (``TRIAL_KEYS`` names) that a flag on this trial concerns; every
        measure when the trial was refused. For ``compare`` to count or exclude them."""
        from app.analysis.flags import ALL_MEASURES
        if self.error is not None:
            return set(ALL_MEASURES)
        return {m for f in self.flags for m in f.rule.measures}

    @property
    def ok(self) -> bool:
        """True when the contraction was measured (individual measures may still be NaN)."""
        return self.error is None and math.isfinite(self.peak_force_mN)

    @property
    def left_out(self) -> bool:
        """True when a flag on the trial leaves it out of the session summary
        (``FlagRule.leaves_session``: a work loop's 'not-isometric', a trial a researcher
        'excluded'), measured or not."""
        return any(f.rule.leaves_session for f in self.flags)

    @property
    def in_session(self) -> bool:
        """True when the trial counts towards the session summary (§5): measured and not
        :attr:`left_out`. The one rule the summary asks."""
        return self.ok and not self.left_out

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in TRIAL_KEYS}
        d["notes"] = list(self.notes)
        d["flags"] = [f.to_dict() for f in self.flags]
        d["markers"] = dict(self.markers)
        return jsonable(d)


def flag_codes(trial: TrialResult | Mapping[str, Any]) -> list[str]:
    """Quality-flag codes of one trial (docs/analysis.md §11), in the order raised, from
    the result object or its :meth:`TrialResult.to_dict` row (what the GUI's overlay and
    results table hold): one rule for the CLI's CSV, the summary and the GUI. In a row,
    entries that are not mappings (a hand-edited or damaged file) are skipped."""
    if isinstance(trial, TrialResult):
        return [f.code for f in trial.flags]
    return [str(f.get("code", "")) for f in (trial.get("flags") or []) if isinstance(f, Mapping)]


@dataclass
class SessionResult:
    """All trials of one file plus the per-session summary (see ``app.analysis.session``)."""

    file: str
    format: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    trials: list[TrialResult] = field(default_factory=list)
    #: a SessionSummary (dict-readable); a plain dict is accepted from older callers
    summary: SessionSummary | dict[str, Any] = field(default_factory=SessionSummary)

    @property
    def error(self) -> str | None:
        """Why the file as a whole could not be analysed, or None."""
        return self.summary.get("error")

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"file": self.file, "format": self.format,
                         "metadata": self.metadata,
                         "trials": [t.to_dict() for t in self.trials],
                         "summary": self.summary})

    @classmethod
    def failed(cls, file: str, message: str, format: str | None = None) -> "SessionResult":
        """The result for a file that could not be loaded or analysed at all."""
        return cls(file=file, format=format, summary=SessionSummary(error=message))
