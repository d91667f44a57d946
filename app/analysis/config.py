"""Every window, filter and threshold the contraction analysis uses, with its default.

One frozen dataclass so a result can always be traced back to the settings that made
it; the CLI builds its ``analyze``/``compare``/``plot`` options from the field metadata
below, so a new setting shows up on the command line without touching the CLI.
The definitions these settings feed are written out in ``docs/analysis.md``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal


def _opt(default: Any, help: str, unit: str = "") -> Any:
    """A dataclass field carrying the help text and unit used by the CLI and docs."""
    return field(default=default, metadata={"help": help, "unit": unit})


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of the contraction analysis (defaults in brackets in ``--help``)."""

    # --- baseline ---------------------------------------------------------------
    baseline_ms: float = _opt(
        20.0, "length of the pre-stimulus window whose mean is the baseline", "ms")
    baseline_gap_ms: float = _opt(
        1.0, "gap between the end of the baseline window and the first pulse, so the "
             "stimulus artifact never enters the baseline", "ms")
    # --- artifact and filtering ------------------------------------------------------
    blank_ms: float = _opt(
        1.0, "stimulus-artifact blanking: samples from each pulse to this time after it "
             "are replaced by a straight line between their neighbours (0 = off)", "ms")
    artefact_max_ms: float = _opt(
        3.0, "blanking follows the stimulus artefact's measured extent (until force is back "
             "within 6 noise SD of the baseline) up to this long; flagged when longer than "
             "--blank-ms", "ms")
    min_tpt_ms: float = _opt(
        4.0, "a peak earlier than this after the stimulus is an artefact, never Pt/Po "
             "(trial refused)", "ms")
    min_rise_ms: float = _opt(
        0.5, "a 10-90 % rise faster than this is an artefact, not a muscle (trial refused)",
        "ms")
    force_polarity: Literal["positive", "negative"] = _opt(
        "positive", "'negative': the transducer reads contraction as falling force; the "
                    "signal is inverted before measuring (a negative-going contraction is "
                    "otherwise refused)")
    smooth_ms: float = _opt(
        2.0, "zero-phase Savitzky-Golay window (quadratic) used for the peak, crossings "
             "and dF/dt; windows shorter than 3 samples mean no smoothing", "ms")
    smooth_polyorder: int = _opt(2, "polynomial order of the Savitzky-Golay filter")
    peak_fit_percent: float = _opt(
        15.0, "twitch peak: least-squares polynomial through the unsmoothed samples within "
              "this % of Pt below the peak; 0 = parabola through the 3 highest smoothed "
              "samples", "%")
    peak_fit_degree: int = _opt(4, "degree of the twitch peak polynomial")
    crossing_fit_percent: float = _opt(
        10.0, "rise and relaxation crossings are refined by a least-squares quadratic "
              "through the unsmoothed samples within ± this % of Pt/Po of the level "
              "(capped at half the distance to 0 and 100 %); 0 = plain interpolation", "%")
    fill_gaps_ms: float = _opt(
        0.0, "lost samples (NaN) in runs up to this long are linearly interpolated; "
             "longer runs, or any run when 0, make the trial fail", "ms")
    peak_window_ms: float = _opt(
        200.0, "the peak (Pt, Po) is searched from the first pulse to this long after the "
               "last pulse, so a later event in a long trial window is not taken for it",
        "ms")
    # --- timing levels ------------------------------------------------------------------
    relaxation_percent: float = _opt(
        50.0, "relaxation level for the half-relaxation time, % of the peak above baseline",
        "%")
    rise_low_percent: float = _opt(10.0, "lower level of the rise time, % of peak", "%")
    rise_high_percent: float = _opt(90.0, "upper level of the rise time, % of peak", "%")
    onset_sd: float = _opt(
        3.0, "onset threshold: baseline + this many SDs of baseline noise (the larger of "
             "this and --onset-percent is used)")
    onset_percent: float = _opt(2.0, "onset threshold: baseline + this % of the peak", "%")
    fti_end_percent: float = _opt(
        5.0, "the force-time integral runs from the first pulse until force has relaxed "
             "to this % of the peak above baseline", "%")
    # --- validity checks ---------------------------------------------------------------
    min_snr: float = _opt(
        5.0, "a contraction must rise more than this many baseline-noise SDs above baseline")
    baseline_drift_percent: float = _opt(
        1.0, "a significant pre-stimulus slope that moves the force at the peak by more "
             "than this % of the peak is extrapolated linearly and flagged", "%")
    baseline_shift_percent: float = _opt(
        5.0, "force settling after relaxation more than this % of the peak away from the "
             "pre-stimulus baseline is flagged", "%")
    second_contraction_percent: float = _opt(
        10.0, "a fall and a new rise each larger than this % of the peak inside one window "
              "is a second contraction (flagged; measures from the first)", "%")
    clip_ms: float = _opt(
        1.0, "a run of identical samples at the maximum lasting this long (and at least "
             "4 samples) is taken as amplifier/ADC saturation, when the baseline shows "
             "noise (0 = off)", "ms")
    clip_level_mN: float | None = _opt(
        None, "known saturation level of the force channel; any sample at or above it "
              "fails the trial", "mN")
    # --- tetanus ---------------------------------------------------------------------------
    po_average_ms: float = _opt(
        0.0, "Po smoothing: 0 = peak of the Savitzky-Golay-smoothed force (as DMA and "
             "LabChart report the maximum); > 0 = maximum of a centred moving average of "
             "this length", "ms")
    fusion_intervals: int = _opt(
        3, "fusion index uses the ripple in this many last inter-pulse intervals")
    train_min_hz: float = _opt(
        1.0, "CSV files (no trial table or protocol): pulses spaced regularly (within 2 %) "
             "at this frequency or faster form one train", "Hz")
    # --- session summary -------------------------------------------------------------
    twitch_summary: Literal["protocol", "max", "mean"] = _opt(
        "protocol", "session Pt/TPT/½RT: 'protocol' = mean ± SD of the twitches of the "
                    "protocol's twitch step before the first tetanus (without step names: "
                    "the twitches before the first tetanus within 10 % of the largest); "
                    "'max' = the largest twitch; 'mean' = all twitches")
    ff_include_twitch: bool = _opt(
        True, "include the twitch as the 1 Hz point of the force-frequency curve")
    fatigue_min_trains: int = _opt(
        5, "a run of at least this many identical tetani in a row (or steps named "
           "'fatigue') is a fatigue series")
    fibre_length_ratio: float | None = _opt(
        None, "fibre-to-muscle length ratio for specific force; overrides the species/muscle "
              "table (needed for muscles or species not in it, or no species recorded)")
    fibre_length_ratios: str | None = _opt(
        None, "per-muscle Lf/Lo ratios, e.g. 'edl=0.40,soleus=0.68' (muscle names as in "
            "docs/analysis.md §5); override the table for those muscles")
    metadata_overrides: tuple[tuple[str, Any], ...] = field(
        default=(), metadata={"internal": True, "help": "session metadata given with "
                              "'analyze --meta key=value' (validated), applied over the file's"})
    muscle_density_g_cm3: float = _opt(
        1.06, "mammalian skeletal muscle density (Mendez & Keys 1960)", "g/cm³")

    def __post_init__(self) -> None:
        positive = ("baseline_ms", "muscle_density_g_cm3", "peak_window_ms", "train_min_hz")
        nonneg = ("baseline_gap_ms", "blank_ms", "artefact_max_ms", "min_tpt_ms", "min_rise_ms",
                  "baseline_drift_percent", "baseline_shift_percent", "crossing_fit_percent", "smooth_ms", "fill_gaps_ms", "onset_sd",
                  "onset_percent", "min_snr", "clip_ms", "po_average_ms")
        for name in positive:
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0 (got {v!r})")
        for name in nonneg:
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0 (got {v!r})")
        if not 0 <= self.peak_fit_percent < 100 or not 2 <= self.peak_fit_degree <= 6:
            raise ValueError("peak_fit_percent must be in [0, 100) and peak_fit_degree in 2..6")
        for name in ("relaxation_percent", "rise_low_percent", "rise_high_percent",
                     "fti_end_percent"):
            v = getattr(self, name)
            if not 0 < v < 100:
                raise ValueError(f"{name} must be between 0 and 100 (got {v!r})")
        if self.rise_low_percent >= self.rise_high_percent:
            raise ValueError("rise_low_percent must be below rise_high_percent")
        if self.smooth_polyorder < 1:
            raise ValueError("smooth_polyorder must be >= 1")
        if self.fusion_intervals < 1 or self.fatigue_min_trains < 2:
            raise ValueError("fusion_intervals must be >= 1 and fatigue_min_trains >= 2")
        if self.force_polarity not in ("positive", "negative"):
            raise ValueError("force_polarity must be 'positive' or 'negative'")
        if not 0 < self.second_contraction_percent < 100:
            raise ValueError("second_contraction_percent must be between 0 and 100")
        if self.twitch_summary not in ("protocol", "max", "mean"):
            raise ValueError("twitch_summary must be 'protocol', 'max' or 'mean'")
        if self.fibre_length_ratio is not None and not 0 < self.fibre_length_ratio <= 1:
            raise ValueError("fibre_length_ratio must be in (0, 1]")
        self.fibre_ratio_overrides()            # raises ValueError naming the bad item
        if self.clip_level_mN is not None and not math.isfinite(self.clip_level_mN):
            raise ValueError("clip_level_mN must be finite")

    def fibre_ratio_overrides(self) -> dict[str, float]:
        """``fibre_length_ratios`` parsed: canonical muscle name -> Lf/Lo."""
        from app.analysis.muscles import canonical_muscle
        out: dict[str, float] = {}
        text = self.fibre_length_ratios or ""
        for item in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = item.partition("=")
            canon = canonical_muscle(name)
            try:
                ratio = float(value)
            except ValueError:
                ratio = math.nan
            if not sep or canon is None or not 0 < ratio <= 1:
                raise ValueError(f"fibre_length_ratios: {item!r} is not 'muscle=ratio' with "
                                 f"a known muscle and 0 < ratio <= 1")
            out[canon] = ratio
        return out

    def with_changes(self, **changes: Any) -> "AnalysisConfig":
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def option_fields(cls) -> list[tuple[str, Any, Any, str, str]]:
        """(name, type, default, help, unit) of each setting, for building CLI options."""
        return [(f.name, f.type, f.default, f.metadata.get("help", ""),
                 f.metadata.get("unit", "")) for f in fields(cls)
                if not f.metadata.get("internal")]
