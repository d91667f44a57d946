"""Twitch measures: Pt, TPT, ½RT, 10-90 % rise time, latency, ±dF/dt, force-time integral.

Definitions (see docs/analysis.md for the formulas):

* Pt = peak − baseline, the peak (time and height) from a least-squares quartic
  through the samples within 15 % of Pt of the top (``peak_fit_percent``), located on
  the Savitzky-Golay-smoothed force;
* TPT = peak time − stimulus time;
* ½RT = time of the first fall to baseline + 50 % Pt after the peak − peak time
  (measured from the peak, not from the stimulus).
"""
from __future__ import annotations

import math


from app.analysis.config import AnalysisConfig
from app.analysis.contraction import (
    Segment, TrialFailed, check_amplitude, check_physiological, cut_second_contraction,
    dfdt_measures, force_time_integral, half_relaxation, peak_sample, rise_measures,
)
from app.analysis.timing import parabolic_peak, polynomial_peak


def measure_twitch(seg: Segment, cfg: AnalysisConfig) -> dict[str, float]:
    """Measures of a single-pulse contraction; fractional indices are segment-relative."""
    y = seg.smooth
    lo = seg.first + seg.n_blank
    if y.size - lo < 3:
        raise TrialFailed("the trial window ends at the stimulus; nothing to measure")
    cut_second_contraction(seg, lo, cfg)
    y = seg.smooth
    k = peak_sample(seg, y, lo, cfg)
    if k == lo:
        raise TrialFailed("force is highest right at the stimulus and only falls after it "
                          "(still relaxing from an earlier contraction?)")
    peak_idx, peak = parabolic_peak(y, k)
    if cfg.peak_fit_percent > 0:
        level = peak - cfg.peak_fit_percent / 100.0 * (peak - seg.baseline)
        fitted = polynomial_peak(seg.raw, y, k, level, cfg.peak_fit_degree)
        if fitted is not None:
            peak_idx, peak = fitted
        else:
            seg.notes.append("peak polynomial fit failed; peak from the smoothed maximum")
    amplitude = peak - seg.baseline
    check_amplitude(seg, amplitude, cfg)

    half, level = half_relaxation(seg, y, k, amplitude, cfg, of=" of Pt")
    rise = rise_measures(seg, k, amplitude, cfg)
    check_physiological(seg, peak_idx, rise, cfg)
    dmax, dmin = dfdt_measures(seg, k, k)
    fti, fti_end = force_time_integral(seg, k, amplitude, cfg)
    return {
        "amplitude": amplitude, "peak": peak_idx, "relax_ref": peak_idx, "relax": half,
        "relax_level": level, "fti": fti, "fti_end": fti_end,
        "dfdt_max": dmax, "dfdt_min": dmin, "fusion_index": math.nan, **rise,
    }
