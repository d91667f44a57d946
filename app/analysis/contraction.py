"""What twitches and tetani share: reading a trial's samples, checking them, the
baseline, artifact blanking, smoothing, and the measures taken the same way on both
(rise time, onset latency, ±dF/dt, force-time integral).

Indices inside a :class:`Segment` are segment-relative; ``Segment.offset`` turns them
into recording indices.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from app.analysis.config import AnalysisConfig
from app.analysis.timing import (
    blank, blank_mask, derivative, falling_crossing, fill_nan_runs, first_at_or_above, integrate,
    refine_crossing, rising_crossing_before, runs, smooth,
)
from app.analysis.checks import (
    TrialFailed, artefact_extents, baseline_slope, baseline_trend, check_clipping,
    HALF_RELAXATION_TOL_MS, accelerating_trend, check_polarity, relaxation_shift_ms, second_contraction,
)
from app.analysis.flags import Flag
from app.recording import Recording, Trial

__all__ = ["Segment", "TrialFailed", "prepare"]   # TrialFailed: raised by every measure


@dataclass
class Segment:
    """One trial's samples, prepared for measuring."""

    fs: float
    offset: int               # recording index of segment sample 0
    raw: np.ndarray           # force (mN), artifacts blanked, short NaN gaps filled
    smooth: np.ndarray        # Savitzky-Golay smoothed ``raw``
    dfdt: np.ndarray          # mN/s, Savitzky-Golay derivative of ``raw``
    stim: np.ndarray          # segment-relative pulse indices
    baseline: float           # mN
    noise_sd: float           # SD of the raw baseline window, mN
    n_blank: int              # samples blanked after the first pulse
    hf_noise_sd: float = 0.0  # sample-to-sample noise of the baseline (SD of diffs / √2), mN
    trend: np.ndarray | None = None  # baseline trend removed (baseline-drift), mN
    notes: list[str] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)

    def flag(self, code: str, text: str) -> None:
        self.flags.append(Flag(code, text))

    def cut(self, stop: int) -> None:
        """Measure only up to ``stop`` (a second contraction begins there)."""
        self.raw, self.smooth, self.dfdt = self.raw[:stop], self.smooth[:stop], self.dfdt[:stop]

    @property
    def first(self) -> int:
        return int(self.stim[0])

    @property
    def last(self) -> int:
        return int(self.stim[-1])

    def ms(self, n_samples: float) -> float:
        return float(n_samples) * 1000.0 / self.fs


def prepare(recording: Recording, trial: Trial, cfg: AnalysisConfig) -> Segment:
    """Read and check a trial's samples; raise :class:`TrialFailed` with the reason."""
    fs = float(recording.sample_rate_hz)
    stim_abs = np.asarray(trial.stim_samples, dtype=np.int64)
    if stim_abs.size == 0:
        raise TrialFailed("no stimulus pulse in this trial")
    n_total = recording.samples
    first = int(stim_abs[0])
    if first < 0 or first >= n_total:
        raise TrialFailed(f"stimulus at sample {first} is outside the recording "
                          f"(0..{n_total - 1})")
    gap = int(round(cfg.baseline_gap_ms * fs / 1000.0))
    n_base = max(1, int(round(cfg.baseline_ms * fs / 1000.0)))
    start = max(0, min(int(trial.start_sample), first - gap - n_base))
    stop = min(n_total, max(int(trial.stop_sample), int(stim_abs[-1]) + 1))
    x = np.asarray(recording.force_mN[start:stop], dtype=np.float64)
    stim = stim_abs - start
    stim = stim[stim < x.size]
    seg = Segment(fs=fs, offset=start, raw=x, smooth=x, dfdt=x, stim=stim, baseline=0.0,
                  noise_sd=0.0, n_blank=0)
    x = _lost_samples(seg, x, cfg)
    if cfg.force_polarity == "negative":
        x = -x
        seg.flag("measured-inverted", "force inverted before measuring (--force-polarity "
                                      "negative)")
    x = _baseline(seg, x, gap, n_base, cfg)
    extents = _blanking(seg, x, cfg)
    seg.n_blank = int(extents[0])
    xb = blank(x, stim, extents)
    # after blanking, so an artifact is not taken for the maximum; a signal that never
    # rises above baseline noise is "no contraction" (check_amplitude), not clipping
    after = xb[int(stim[0]):]
    floor = noise_floor(seg, cfg)
    limits = getattr(recording, "force_limits_mN", None)
    if limits is not None:
        raw_after = np.asarray(recording.force_mN[start + int(stim[0]):stop], dtype=np.float64)
        check_clipping(raw_after, fs, cfg, 0.0, limits)
    if after.size and after.max() > seg.baseline + floor:
        blanked = blank_mask(x.size, stim, extents)[int(stim[0]):]
        check_clipping(after, fs, cfg, seg.hf_noise_sd, None, blanked)
    seg.raw = xb
    seg.smooth = smooth(xb, fs, cfg.smooth_ms, cfg.smooth_polyorder)
    seg.dfdt = derivative(xb, fs, cfg.smooth_ms, cfg.smooth_polyorder)
    check_polarity(seg.smooth, int(stim[0]) + seg.n_blank, seg.baseline, floor)
    return seg


def _lost_samples(seg: Segment, x: np.ndarray, cfg: AnalysisConfig) -> np.ndarray:
    """Interpolate short NaN runs (flagged) or fail on lost samples."""
    if np.isnan(x).any():
        max_run = int(round(cfg.fill_gaps_ms * seg.fs / 1000.0))
        x, n_left, first_nan = fill_nan_runs(x, max_run)
        if n_left:
            raise TrialFailed(
                f"{n_left} lost sample(s) (NaN) in the trial window, the first at "
                f"t = {(seg.offset + first_nan) / seg.fs:.4f} s; raise fill_gaps_ms to "
                f"interpolate short gaps")
        seg.notes.append("short runs of lost samples were interpolated")
        seg.flag("gaps-filled", "short runs of lost samples were interpolated")
    if not np.isfinite(x).all():
        raise TrialFailed("infinite values in the force signal")
    return x


def _baseline(seg: Segment, x: np.ndarray, gap: int, n_base: int,
              cfg: AnalysisConfig) -> np.ndarray:
    """Set the baseline and noise SD from the pre-stimulus window; extrapolate a
    significant trend (flagged: :func:`app.analysis.checks.baseline_trend`). Returns the
    (possibly detrended) force."""
    fs = seg.fs
    b1 = seg.first - gap
    b0 = max(0, b1 - n_base)
    if b1 - b0 < max(3, n_base // 4):
        raise TrialFailed(
            f"only {(b1 - b0) * 1000 / fs:.1f} ms of signal before the stimulus; the "
            f"baseline needs {cfg.baseline_ms:g} ms")
    if b1 - b0 < n_base:
        seg.notes.append(f"baseline shortened to {(b1 - b0) * 1000 / fs:.1f} ms "
                         f"(recording starts too close to the stimulus)")
    base = x[b0:b1]
    seg.baseline = float(base.mean())
    slope, se = baseline_slope(base)
    centre = 0.5 * (b0 + b1 - 1)
    resid_sd = (float(np.std(base - seg.baseline - slope * (np.arange(b0, b1) - centre),
                             ddof=1)) if base.size > 2 else 0.0)
    seg.noise_sd = float(base.std(ddof=1)) if base.size > 1 else 0.0
    seg.hf_noise_sd = float(np.std(np.diff(base))) / math.sqrt(2.0) if base.size > 2 else 0.0
    if cfg.baseline_drift_percent <= 0 or abs(slope) <= 3.0 * se:
        return x
    end = min(x.size, seg.last + int(round(cfg.peak_window_ms * fs / 1000.0)))
    if end <= seg.first:
        return x
    trend, how = baseline_trend(base, b0, x.size, slope, resid_sd)
    trend -= seg.baseline
    k = seg.first + int(np.argmax(x[seg.first:end] - trend[seg.first:end]))
    amp = float(x[k] - trend[k]) - seg.baseline
    drift = abs(float(trend[k]))                # what the trend adds to the peak
    if amp <= 0:
        return x
    if drift <= cfg.baseline_drift_percent / 100.0 * amp:
        models = [trend, slope * (np.arange(x.size, dtype=np.float64) - centre)]
        quad = accelerating_trend(base, b0, x.size, resid_sd)
        if quad is not None:
            models.append(quad - seg.baseline)
        _relaxation_drift(seg, x, tuple(models), k, amp, slope, cfg)
        return x
    seg.noise_sd = resid_sd
    seg.trend = trend
    seg.flag("baseline-drift",
             f"baseline sloping {slope * fs:.3g} mN/s before the stimulus ({100 * drift / amp:.1f} "
             f"% of the peak at the peak); extrapolated {how}")
    return x - trend


def _relaxation_drift(seg: Segment, x: np.ndarray, trends: tuple[np.ndarray, ...], k: int,
                      amp: float, slope: float, cfg: AnalysisConfig) -> None:
    """Flag ``relaxation-drift`` when a significant trend, too small at the peak to be
    extrapolated, could move ½RT beyond its tolerance: ½RT comes later (the drift has
    grown) where force falls slowly. How the trend goes on is not known (a line, a
    decaying tail, a tail that levels off, or one past its shoulder that speeds up), so
    the largest shift of the continuations is taken: the extrapolated trend, the line,
    the parabola when the trend accelerates, and the trend held at its value at the
    stimulus. Not corrected: below the threshold the continuation is not
    known well enough (the DMC example twitch rises before the stimulus and settles
    below its baseline after)."""
    held = trends[0].copy()
    held[seg.first:] = held[seg.first]
    frac = cfg.relaxation_percent / 100.0
    shifts = [relaxation_shift_ms(x, t, k, max(k, seg.last), amp, seg.baseline, frac, seg.fs)
              for t in (*trends, held)]
    shift = max((v for v in shifts if math.isfinite(v)), default=math.nan)
    tol = max(HALF_RELAXATION_TOL_MS, 1000.0 / seg.fs)
    if shift > tol:
        seg.flag("relaxation-drift",
                 f"baseline sloping {slope * seg.fs:.3g} mN/s before the stimulus (below "
                 f"--baseline-drift-percent at the peak, not extrapolated) could move ½RT by "
                 f"up to {shift:.2g} ms (tolerance {tol:.2g} ms)")


def _blanking(seg: Segment, x: np.ndarray, cfg: AnalysisConfig) -> np.ndarray:
    """Samples blanked after each pulse: at least ``blank_ms``, more where that pulse's
    artefact lasts longer (flagged): at the first pulse against the baseline, at later
    ones against the force just before them; in a train at most 40 % of a period."""
    fs = seg.fs
    n_blank = int(math.ceil(cfg.blank_ms * fs / 1000.0 - 1e-9))
    stim = seg.stim
    out = np.full(stim.size, max(n_blank, 0), dtype=np.int64)
    if cfg.artefact_max_ms <= 0:
        return out
    cap = int(0.4 * float(np.median(np.diff(stim)))) if stim.size > 1 else x.size
    before = np.maximum(stim[:, None] - np.arange(1, 4)[None, :], 0)
    levels = np.median(x[before], axis=1)        # the force just before each pulse
    levels[0] = seg.baseline
    extents = np.minimum(artefact_extents(x, stim, levels, seg.noise_sd, fs, cfg), cap)
    out = np.maximum(out, extents)
    longest = int(out.max())
    if longest > n_blank:
        seg.flag("artefact-extended",
                 f"stimulus artefact lasts up to {longest * 1000 / fs:.2f} ms; blanked that "
                 f"long instead of {cfg.blank_ms:g} ms")
    return out


def check_amplitude(seg: Segment, amplitude: float, cfg: AnalysisConfig) -> None:
    """Fail when there is no contraction distinguishable from baseline noise."""
    # the absolute floor catches perfectly flat (noise-free) signals, where the filter's
    # rounding errors (~1e-13) would otherwise pass as a contraction
    floor = max(cfg.min_snr * seg.noise_sd, 1e-9 * max(1.0, abs(seg.baseline)))
    if not math.isfinite(amplitude) or amplitude <= floor:
        raise TrialFailed(
            f"no contraction: force rises {amplitude:.3g} mN above baseline, not more than "
            f"{cfg.min_snr:g} x baseline noise SD ({seg.noise_sd:.3g} mN); flat signal or "
            f"stimulus not reaching the nerve?")


def rise_measures(seg: Segment, peak_index: int, amplitude: float,
                  cfg: AnalysisConfig) -> dict[str, float]:
    """Onset, 10 % and 90 % rise crossings (fractional segment indices; NaN if absent).

    The upper crossing is the first time the smoothed force reaches the upper level
    after the first pulse; the lower ones are the last rises through their level
    before it, so baseline noise before the contraction cannot trigger them.
    """
    y, s, b = seg.smooth, seg.first, seg.baseline
    hi_level = b + cfg.rise_high_percent / 100.0 * amplitude
    i_hi = first_at_or_above(y, hi_level, s, peak_index + 1)
    out = {"rise_high": math.nan, "rise_low": math.nan, "onset": math.nan}
    if i_hi < 0:
        return out
    out["rise_high"] = refined(seg, rising_crossing_before(y, hi_level, s, i_hi + 1),
                               cfg.rise_high_percent, amplitude, cfg)
    lo_level = b + cfg.rise_low_percent / 100.0 * amplitude
    out["rise_low"] = refined(seg, rising_crossing_before(y, lo_level, s, i_hi + 1),
                              cfg.rise_low_percent, amplitude, cfg)
    thr = max(cfg.onset_sd * seg.noise_sd, cfg.onset_percent / 100.0 * amplitude)
    out["onset"] = rising_crossing_before(y, b + thr, s, i_hi + 1)
    return out


def refined(seg: Segment, estimate: float, percent: float, amplitude: float,
            cfg: AnalysisConfig) -> float:
    """A crossing of baseline + ``percent`` % of ``amplitude``, refined by a local fit
    over ± ``crossing_fit_percent`` (at most half the way to 0 % and to 100 %)."""
    band = min(cfg.crossing_fit_percent, 0.5 * percent, 0.5 * (100.0 - percent))
    level = seg.baseline + percent / 100.0 * amplitude
    return refine_crossing(seg.raw, seg.smooth, estimate, level, band / 100.0 * amplitude)


def dfdt_measures(seg: Segment, peak_index: int, relax_from: int) -> tuple[float, float]:
    """(max dF/dt on the rise, min dF/dt during relaxation), mN/s."""
    lo = seg.first + seg.n_blank
    rise = seg.dfdt[lo:peak_index + 1]
    fall = seg.dfdt[relax_from:]
    return (float(rise.max()) if rise.size else math.nan,
            float(fall.min()) if fall.size else math.nan)


def force_time_integral(seg: Segment, relax_from: int, amplitude: float,
                        cfg: AnalysisConfig) -> tuple[float, float]:
    """∫(F - baseline) dt from the first pulse to relaxation to ``fti_end_percent``.

    Returns (integral in mN·s, fractional end index). When force never relaxes that far
    inside the window the integral runs to the window end and a note is added.
    """
    level = seg.baseline + cfg.fti_end_percent / 100.0 * amplitude
    end = falling_crossing(seg.smooth, level, relax_from)
    if not math.isfinite(end):
        end = float(seg.raw.size - 1)
        seg.notes.append(f"force did not relax to {cfg.fti_end_percent:g} % within the "
                         f"window; force-time integral runs to the window end")
    return integrate(seg.raw - seg.baseline, seg.fs, float(seg.first), end), end


def peak_sample(seg: Segment, y: np.ndarray, lo: int, cfg: AnalysisConfig) -> int:
    """Index of the highest sample of ``y`` from ``lo`` to ``peak_window_ms`` after the last
    pulse. Raises TrialFailed when the contraction is too small, or when the maximum sits
    at the end of the search (force still rising: window too short, or drift)."""
    end = min(y.size, max(lo + 1, seg.last + int(round(cfg.peak_window_ms * seg.fs / 1000.0))
                          + 1))
    k = lo + int(np.argmax(y[lo:end]))
    check_amplitude(seg, float(y[k]) - seg.baseline, cfg)
    if k >= end - 1:
        if end >= y.size:
            raise TrialFailed("force still rising at the end of the trial window "
                              "(window too short, or drift)")
        raise TrialFailed(f"force still rising {cfg.peak_window_ms:g} ms after the last pulse "
                          f"(drift? see peak_window_ms)")
    return k


def half_relaxation(seg: Segment, y: np.ndarray, start: int, amplitude: float,
                    cfg: AnalysisConfig, of: str) -> tuple[float, float]:
    """The falling crossing of baseline + ``relaxation_percent`` % of ``amplitude`` after
    ``start`` (interpolated, then refined); returns ``(index, level)``. A trial that does
    not relax that far gets a note naming ``of`` (what the percentage is of) and NaN."""
    level = seg.baseline + cfg.relaxation_percent / 100.0 * amplitude
    half = refined(seg, falling_crossing(y, level, start), cfg.relaxation_percent, amplitude, cfg)
    if not math.isfinite(half):
        seg.notes.append(f"force did not fall to {cfg.relaxation_percent:g} %{of} within "
                         f"the trial window; ½RT not measured")
    return half, level


def noise_floor(seg: Segment, cfg: AnalysisConfig) -> float:
    """Smallest force change told apart from baseline noise (``min_snr`` noise SDs)."""
    return max(cfg.min_snr * seg.noise_sd, 1e-9 * max(1.0, abs(seg.baseline)))


#: a second contraction rises by the threshold within this time (a drift does not)
CONTRACTION_RISE_MS = 25.0


def cut_second_contraction(seg: Segment, start: int, cfg: AnalysisConfig) -> None:
    """Flag and cut the window before a second contraction that begins after ``start``
    (see :func:`app.analysis.checks.second_contraction`)."""
    # on the force as recorded (the removed trend added back), so a trend that does not
    # follow the baseline exactly never looks like a second contraction
    a = seg.smooth - seg.baseline
    if seg.trend is not None:
        a = a + seg.trend[:a.size]
    cut, rise = second_contraction(a, start, seg.smooth.size,
                                   noise_floor(seg, cfg), cfg,
                                   int(round(CONTRACTION_RISE_MS * seg.fs / 1000.0)))
    if cut < 0:
        return
    seg.flag("multiple-contractions",
             f"a second contraction (+{rise:.4g} mN) begins {seg.ms(cut - seg.first):.1f} ms "
             f"after the stimulus; measures from the first, window cut there")
    seg.cut(cut)


def check_physiological(seg: Segment, peak_idx: float, rise: dict[str, float],
                        cfg: AnalysisConfig) -> None:
    """Refuse a peak earlier than ``min_tpt_ms`` or a rise faster than ``min_rise_ms``:
    a muscle cannot do that, a stimulus artefact can."""
    tpt = seg.ms(peak_idx - seg.first)
    if tpt < cfg.min_tpt_ms:
        raise TrialFailed(f"peak only {tpt:.2f} ms after the stimulus (< {cfg.min_tpt_ms:g} ms): "
                          f"stimulus artefact, not a contraction", code="artefact-peak")
    rise_ms = seg.ms(rise["rise_high"] - rise["rise_low"])
    if math.isfinite(rise_ms) and rise_ms < cfg.min_rise_ms:
        raise TrialFailed(f"force rises 10-90 % in {rise_ms:.2f} ms (< {cfg.min_rise_ms:g} ms): "
                          f"faster than a muscle, a stimulus artefact?", code="artefact-peak")
