"""Tetanus measures: Po, time to peak, relaxation, ±dF/dt, force-time integral, fusion index.

Definitions (formulas in docs/analysis.md):

* Po = maximum of the smoothed force − baseline. By default the smoothing is the same
  light Savitzky-Golay filter as for twitches, so Po is the peak force that Aurora's
  DMA and LabChart report; ``po_average_ms`` > 0 takes instead the maximum of a centred
  moving average (e.g. 5-10 ms), which removes the ripple of unfused tetani.
* time to peak (TPT) from the first pulse to the highest point of the *ripple-smoothed*
  force (centred moving average over one inter-pulse interval), not of the sample that
  gives Po: on an unfused train the highest sample lands on one ripple crest or the
  next by noise, so TPT jumped by a pulse interval between near-identical trials. When
  that force comes within 3 of its noise SDs of its top at points more than one pulse
  interval apart (a flat plateau), the peak time is not defined to better than that:
  flagged ``tpt-ambiguous``;
* ½RT from the *last* pulse to the fall to baseline + 50 % of the end-of-train force
  (the highest force from the last pulse to one period or 30 ms after it; this
  is Po unless force faded during the train, e.g. in fatigue);
* fusion index = 1 − mean ripple / Po, the ripple being max − min of the force within
  each of the last ``fusion_intervals`` inter-pulse intervals of the train.
"""
from __future__ import annotations

import math

import numpy as np

from app.analysis.config import AnalysisConfig
from app.analysis.contraction import (
    Segment, TrialFailed, check_physiological, cut_second_contraction, dfdt_measures,
    force_time_integral, half_relaxation, peak_sample, rise_measures,
)
from app.analysis.savgol import moving_average
from app.analysis.timing import odd_window, smooth

#: how long after the last pulse the end-of-train force is looked for
END_WINDOW_S = 0.030


def measure_tetanus(seg: Segment, cfg: AnalysisConfig) -> dict[str, float]:
    """Measures of a pulse-train contraction; fractional indices are segment-relative."""
    lo = seg.first + seg.n_blank
    if seg.smooth.size - lo < 3:
        raise TrialFailed("the trial window ends at the stimulus; nothing to measure")
    last = seg.last
    # force at the end of stimulation: the highest smoothed force from the last pulse to
    # one period or END_WINDOW_S after it (the last pulse's twitch peaks after the train).
    # Equals Po unless force faded during the train. The window starts AT the last pulse:
    # in an unfused train the previous pulse's twitch peak would otherwise be taken and
    # relaxation found before the last pulse (a negative ½RT at 10 Hz).
    period = int(round(float(np.median(np.diff(seg.stim))))) if seg.stim.size > 1 else 0
    w0 = max(lo, last)
    w1 = min(seg.smooth.size, last + max(period, int(round(END_WINDOW_S * seg.fs))) + 1)
    relax_from = w0 + int(np.argmax(seg.smooth[w0:w1]))
    cut_second_contraction(seg, relax_from, cfg)

    if cfg.po_average_ms > 0:
        y = moving_average(seg.raw, max(1, int(round(cfg.po_average_ms * seg.fs / 1000.0))))
    else:
        y = seg.smooth
    k = peak_sample(seg, y, lo, cfg)
    # the highest sample itself: a tetanus top is a plateau, where a parabola through
    # three samples would extrapolate above the data at the end of the plateau
    peak = float(y[k])
    amplitude = peak - seg.baseline
    peak_idx = float(tetanic_peak_time(seg, lo, amplitude, cfg))
    end_amp = float(seg.smooth[relax_from]) - seg.baseline
    if end_amp < 0.9 * amplitude:
        seg.notes.append(f"force faded during the train (end-of-train force "
                         f"{100 * end_amp / amplitude:.0f} % of Po); ½RT is relative to the "
                         f"end-of-train force")
    half, level = half_relaxation(seg, seg.smooth, relax_from, end_amp, cfg, of="")
    rise = rise_measures(seg, k, amplitude, cfg)   # 90 % is reached by the Po sample
    check_physiological(seg, peak_idx, rise, cfg)
    dmax, dmin = dfdt_measures(seg, k, relax_from)
    fti, fti_end = force_time_integral(seg, relax_from, amplitude, cfg)
    return {
        "amplitude": amplitude, "peak": peak_idx, "po_sample": float(k),
        "relax_ref": float(last), "relax": half,
        "relax_level": level, "fti": fti, "fti_end": fti_end,
        "dfdt_max": dmax, "dfdt_min": dmin,
        "fusion_index": fusion_index(seg, amplitude, cfg), **rise,
    }


#: noise SDs (of the ripple-smoothed force) within which its top counts as flat
TOP_FLAT_SD = 3.0


def tetanic_peak_time(seg: Segment, lo: int, amplitude: float, cfg: AnalysisConfig) -> int:
    """Index of the highest point of the ripple-smoothed force (docs/analysis.md §4).

    The force is averaged over one inter-pulse interval (centred): a boxcar of length T
    has zero gain at 1/T and its harmonics, so the ripple of an unfused train is removed
    and the maximum follows the envelope, not whichever crest noise made highest. When
    the smoothed force comes within ``TOP_FLAT_SD`` of its noise SDs (baseline SD / √n)
    of its top at points more than one interval apart, the time of the peak is not
    defined to better than that (a flat or noisy plateau): flagged ``tpt-ambiguous``.
    """
    stim = seg.stim
    n = max(1, int(round(float(np.median(np.diff(stim)))))) if stim.size > 1 else 1
    end = min(seg.raw.size, max(lo + 1, seg.last + int(round(cfg.peak_window_ms * seg.fs
                                                                / 1000.0)) + 1))
    ybar = moving_average(seg.raw, n)[lo:end]
    j = int(np.argmax(ybar))
    delta = max(TOP_FLAT_SD * seg.noise_sd / math.sqrt(n), 1e-9 * max(1.0, abs(amplitude)))
    near = np.flatnonzero(ybar >= ybar[j] - delta)
    a, b = int(near[0]), int(near[-1]) + 1      # first to last point that close to the top
    if b - a > n and n > 1:
        seg.flag("tpt-ambiguous",
                 f"the force averaged over one pulse interval comes within {delta:.3g} mN "
                 f"({TOP_FLAT_SD:g} noise SD) of its top over {seg.ms(b - a):.1f} ms, more than "
                 f"one interval ({seg.ms(n):.1f} ms): the time of the peak is not defined "
                 f"to better than that")
    return lo + j


def fusion_index(seg: Segment, amplitude: float, cfg: AnalysisConfig) -> float:
    """1 − mean(max − min within each of the last inter-pulse intervals) / Po.

    1 is a perfectly fused (smooth) tetanus; values fall towards 0 as the train
    resolves into separate twitches. The ripple is read on a signal smoothed with a
    window no longer than a quarter of the pulse period, so the filter does not
    remove the ripple it is meant to measure.
    """
    stim = seg.stim
    if stim.size < 2:
        return math.nan
    period = float(np.median(np.diff(stim)))
    window_ms = min(cfg.smooth_ms, 0.25 * period * 1000.0 / seg.fs)
    m = min(cfg.fusion_intervals, stim.size - 1)
    edges = stim[-(m + 1):]
    if np.any(np.diff(edges) < 2):
        return math.nan
    starts = edges[:-1]
    stops = edges[1:]
    # smooth only the last intervals, with a full window of margin each side: inside,
    # the same numbers as smoothing the whole segment
    pad = odd_window(window_ms, seg.fs)
    a, b = max(0, int(starts[0]) - pad), min(seg.raw.size, int(stops[-1]) + pad)
    y = smooth(seg.raw[a:b], seg.fs, window_ms, cfg.smooth_polyorder)
    part = y[starts[0] - a:stops[-1] - a]
    # max/min per interval with reduceat over the concatenated index ranges
    highs = np.maximum.reduceat(part, starts - starts[0])
    lows = np.minimum.reduceat(part, starts - starts[0])
    ripple = float(np.mean(highs - lows))
    return 1.0 - ripple / amplitude
