"""The per-session summary as one typed record, units in the field names.

Built by :func:`app.analysis.session.summarize`; the definitions of every field are in
docs/analysis.md §5. ``SessionSummary`` also reads like the plain dict it replaces
(``summary["pt_mN"]``, ``summary.get("f50_hz")``, ``"po_mN" in summary``) so that code
written against the dict keeps working; new code should use the attributes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Iterator

NAN = math.nan


@dataclass
class SessionSummary:
    """Session-level outcomes of one recording (NaN / None when not available)."""

    n_trials: int = 0
    n_twitches: int = 0
    n_tetani: int = 0
    n_failed: int = 0
    n_flagged: int = 0                     # measured trials carrying at least one flag
    #: trials a researcher excluded (``trial``, ``kind``, ``reason``, ``source``,
    #: ``time_utc``): measured, flagged 'excluded', left out of every number below
    excluded_trials: list[dict[str, Any]] = field(default_factory=list)
    # twitch (from the protocol's twitch step before the first tetanus, §5)
    pt_mN: float = NAN
    pt_sd_mN: float = NAN
    tpt_ms: float = NAN
    tpt_sd_ms: float = NAN
    half_relaxation_ms: float = NAN
    half_relaxation_sd_ms: float = NAN
    contraction_time_ms: float = NAN
    rfd_10_90_mN_per_s: float = NAN
    dfdt_per_peak_per_s: float = NAN
    pt_n: int = 0                          # twitches averaged
    pt_trials: list[int] = field(default_factory=list)
    pt_rule: str = ""                      # which twitches, in words
    pt_trial: int | None = None            # the largest of them (current, length below)
    pt_current_mA: float = NAN
    pt_length_mm: float = NAN
    ptp_ratio: float = NAN                 # post-tetanic twitch / pre-tetanic Pt
    ptp_trial: int | None = None
    # tetanus
    po_mN: float = NAN
    po_frequency_hz: float = NAN
    po_trial: int | None = None
    po_time_to_90pct_ms: float = NAN       # first pulse → 90 % of Po, in the Po tetanus
    po_flags: list[str] = field(default_factory=list)  # flags on the Po tetanus's peak
    po_flag_text: str = ""                 # which tetanus, why, and the largest clean one
    pt_po_ratio: float = NAN
    # force-frequency
    fmin_mN: float = NAN
    fmax_mN: float = NAN
    f50_hz: float = NAN                    # fitted curve at 50 % of its maximum (Fmax)
    sigmoid_midpoint_hz: float = NAN       # the sigmoid's own midpoint parameter
    hill_slope: float = NAN
    # fatigue
    fatigue_index: float = NAN
    fatigue_time_to_50pct_s: float = NAN
    # specific force
    specific_force_N_per_cm2: float = NAN
    csa_mm2: float = NAN
    muscle_mass_mg: float = NAN
    muscle_length_mm: float = NAN          # Lo used for the fibre length
    fibre_length_ratio: float = NAN
    fibre_length_ratio_source: str = ""
    force_frequency: dict[str, Any] | None = None
    fatigue: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    # ---------------------------------------------------------------- dict reading
    def _names(self) -> list[str]:
        return [f.name for f in fields(self)]

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self._names():
            raise KeyError(f"SessionSummary has no field {key!r}")
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return key in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self._names() else default

    def keys(self) -> list[str]:
        return self._names()

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self._names()]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists and nested dicts copied); NaN kept (``jsonable`` nulls it)."""
        return {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                for k, v in self.items()}
