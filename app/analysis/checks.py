"""Signal-quality rules of a trial: artefact extent, polarity, baseline slope and shift,
saturation, a second contraction in the window.

Each rule either returns what it measured (the caller adapts the analysis and adds a
:class:`~app.analysis.flags.Flag`) or raises :class:`TrialFailed` with a flag code
(a refusal). The rules, thresholds and their sources are in docs/analysis.md §11.
"""
from __future__ import annotations

import math

import numpy as np

from app.analysis.config import AnalysisConfig
from app.analysis.savgol import moving_average
from app.analysis.timing import runs


class TrialFailed(Exception):
    """The trial cannot be measured; the message is shown to the user as is.

    ``code`` is the flag code of the refusal (``app.analysis.flags.FLAGS``), or None for
    refusals that are not about signal quality (no pulse, window too short...).
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


#: fewest samples from which the spread of a flat top is compared with the noise
QUIET_TOP_SAMPLES = 20
#: a top whose sample-to-sample spread is below this fraction of the baseline noise is a
#: rail. Not a half: the top stretch is chosen by amplitude (within 4 SD of the maximum),
#: which trims its noise, so a real, rounded twitch top measured 0.46-1.2 of the noise in
#: 20 000 simulated noisy tops and a simulated demo session was refused once in some 90
#: runs at a half; a rail carries at most the ADC's last bit (about 0.04 of the noise in
#: tests/test_analysis_pathology.py)
QUIET_TOP_FRACTION = 0.25
#: noise SDs within which force counts as back at baseline after an artefact
ARTEFACT_SETTLE_SD = 6.0


def artefact_extents(x: np.ndarray, pulses: np.ndarray, levels: np.ndarray, noise_sd: float,
                     fs: float, cfg: AnalysisConfig) -> np.ndarray:
    """For each pulse, the samples until force is back within 6 noise SD of its level
    (the force before the pulse), at most ``artefact_max_ms``; 0 when the pulse sample
    itself is at the level; when it never gets back, the sample closest to the level
    (where the artefact's decay meets a contraction's rise), unless that is the last.

    A nerve-evoked contraction starts 1.5-5 ms after the pulse, so a departure from the
    level at the pulse that returns within a few ms is the stimulus artefact. When it
    has not settled by ``artefact_max_ms`` the cap is returned; a peak left inside the
    artefact is then refused by ``check_physiological``. All pulses at once (numpy).
    """
    pulses = np.asarray(pulses, dtype=np.int64)
    cap = int(math.ceil(cfg.artefact_max_ms * fs / 1000.0))
    out = np.zeros(pulses.size, dtype=np.int64)
    if cap <= 0 or pulses.size == 0:
        return out
    idx = pulses[:, None] + np.arange(cap)[None, :]
    inside = idx < x.size
    w = x[np.minimum(idx, x.size - 1)]
    levels = np.asarray(levels, dtype=np.float64)
    dev = np.where(inside, np.abs(w - levels[:, None]), np.inf)
    floor = 1e-9 * np.maximum(1.0, np.abs(levels))
    settled = dev <= np.maximum(ARTEFACT_SETTLE_SD * noise_sd, floor)[:, None]
    first = np.argmax(settled, axis=1)
    closest = np.argmin(dev, axis=1)
    width = inside.sum(axis=1)
    fallback = np.where(closest < width - 1, closest, width)
    return np.where(settled.any(axis=1), first, fallback).astype(np.int64)


def check_polarity(y: np.ndarray, start: int, baseline: float, floor: float) -> None:
    """Refuse a contraction that goes down: the largest fall below baseline after the
    first pulse is more than twice the largest rise and above the noise floor."""
    after = y[start:]
    if after.size == 0:
        return
    up, down = float(after.max()) - baseline, baseline - float(after.min())
    if down > floor and down > 2.0 * max(up, 0.0):
        raise TrialFailed(
            f"force falls {down:.4g} mN below baseline after the stimulus (rises only "
            f"{max(up, 0.0):.3g} mN): transducer wired the other way? "
            f"(--force-polarity negative measures it inverted)", code="inverted")


def baseline_slope(base: np.ndarray) -> tuple[float, float]:
    """(slope in units per sample, its standard error) of a least-squares line."""
    n = base.size
    if n < 4:
        return 0.0, math.inf
    i = np.arange(n, dtype=np.float64) - 0.5 * (n - 1)
    sxx = float(i @ i)
    slope = float(i @ (base - base.mean())) / sxx
    resid = base - base.mean() - slope * i
    se = math.sqrt(float(resid @ resid) / (n - 2) / sxx)
    return slope, se


def baseline_trend(base: np.ndarray, b0: int, n: int, slope: float, noise_sd: float
                   ) -> tuple[np.ndarray, str]:
    """The pre-stimulus trend extended over ``n`` samples, and how ("linearly" or
    "exponentially").

    The baseline window is cut into thirds with means m1, m2, m3. When the differences
    d1 = m2 − m1 and d2 = m3 − m2 have the same sign and d2 is significantly smaller
    (decelerating, by more than 3 standard errors: a relaxation tail), the trend is the
    exponential through the three means, C + D·r^((i − c2)/Δ) with r = d2/d1 (Δ a third,
    c2 the middle third's centre): the tail decays towards its asymptote instead of
    the straight line running on. Otherwise it is the least-squares line.
    """
    m = base.size // 3
    idx = np.arange(n, dtype=np.float64)
    centre = b0 + 0.5 * (base.size - 1)
    line = float(base.mean()) + slope * (idx - centre)
    if m < 3:
        return line, "linearly"
    m1, m2, m3 = (float(base[k * m:(k + 1) * m].mean()) for k in range(3))
    d1, d2 = m2 - m1, m3 - m2
    se = noise_sd * math.sqrt(6.0 / m)            # SE of d1 − d2 from white noise
    if d1 * d2 <= 0 or abs(d2) >= abs(d1) or abs(d1 - d2) <= 3.0 * se:
        return line, "linearly"
    r = d2 / d1
    D = -d1 * r / (1.0 - r)
    C = m2 - D
    c2 = b0 + m + 0.5 * (m - 1)
    expo = np.log(r) * (idx - c2) / m
    return C + D * np.exp(np.minimum(expo, 50.0)), "exponentially (a relaxation tail)"


#: ½RT tolerance (ms; at least one sample period), docs/analysis.md §3 and §10
HALF_RELAXATION_TOL_MS = 0.2


def relaxation_shift_ms(x: np.ndarray, trend: np.ndarray, peak: int, start: int,
                        amplitude: float, baseline: float, fraction: float,
                        fs: float) -> float:
    """How far a baseline trend left in the force would move the relaxation crossing
    (ms; NaN when the force does not relax that far).

    ``trend`` is relative to the baseline. Left in, it lifts the force at the crossing
    t½ by trend(t½) and the level (``fraction`` of the peak) by fraction·trend(t_peak);
    the crossing moves by their difference over the force's slope at t½. The crossing
    and slope are read on the detrended force averaged over 1 ms.
    """
    w = max(1, int(round(0.001 * fs)))
    y = moving_average(x - trend, w)
    level = baseline + fraction * amplitude
    below = np.flatnonzero(y[start:] <= level)
    if below.size == 0:
        return math.nan
    i = start + int(below[0])
    a, b = max(i - w, 0), min(i + w, y.size - 1)
    slope = (float(y[b]) - float(y[a])) / max(b - a, 1)       # per sample
    if not slope < 0:
        return math.nan
    lift = float(trend[i]) - fraction * float(trend[peak])
    return abs(lift / slope) * 1000.0 / fs


def accelerating_trend(base: np.ndarray, b0: int, n: int, noise_sd: float) -> np.ndarray | None:
    """The parabola through the three thirds' means of the baseline window, extended over
    ``n`` samples, when the trend accelerates (|d2| > |d1| by more than 3 standard errors,
    same thirds as :func:`baseline_trend`): the shoulder of an earlier contraction's
    relaxation, which a line or a decaying exponential would extrapolate too flat. None
    otherwise. Used only to bound how far such a trend could move ½RT."""
    m = base.size // 3
    if m < 3:
        return None
    m1, m2, m3 = (float(base[k * m:(k + 1) * m].mean()) for k in range(3))
    d1, d2 = m2 - m1, m3 - m2
    if abs(d2) <= abs(d1) or abs(d2 - d1) <= 3.0 * noise_sd * math.sqrt(6.0 / m):
        return None
    u = (np.arange(n, dtype=np.float64) - (b0 + m + 0.5 * (m - 1))) / m
    return m2 + 0.5 * (d1 + d2) * u + 0.5 * (d2 - d1) * u * u


def check_clipping(x: np.ndarray, fs: float, cfg: AnalysisConfig, noise_sd: float,
                   limits_mN: tuple[float, float] | None,
                   blanked: np.ndarray | None = None) -> None:
    """Refuse a saturated (clipped) contraction.

    * ``limits_mN``: the force at the ADC's full scale (``.h5``: from the calibration
      in the file); any sample within 0.1 % of the span from it is saturation;
    * ``clip_level_mN``: a known saturation level;
    * a flat top: a run of identical samples at the maximum lasting ``clip_ms``, or a
      top stretch (``clip_ms`` long within 4 noise SD of the maximum) whose spread is
      below a quarter of the baseline noise (:data:`QUIET_TOP_FRACTION`): force on a
      rail carries at most the ADC's last bit of noise, a real plateau carries the
      transducer noise seen at baseline.
      Both need noise at baseline: a noise-free simulated plateau is exactly flat.
    """
    if x.size == 0:
        return
    top = float(x.max())
    if limits_mN is not None:
        lo, hi = limits_mN
        margin = 1e-3 * (hi - lo)
        if top >= hi - margin or float(x.min()) <= lo + margin:
            raise TrialFailed(f"signal clipped: force reaches the ADC full scale "
                              f"({lo:.5g}..{hi:.5g} mN)", code="clipped")
    if cfg.clip_level_mN is not None and top >= cfg.clip_level_mN:
        raise TrialFailed(f"force reaches the saturation level {cfg.clip_level_mN:g} mN "
                          f"(signal clipped)", code="clipped")
    if noise_sd <= 0 or cfg.clip_ms <= 0:
        return
    need = max(4, int(round(cfg.clip_ms * fs / 1000.0)))
    _, lengths = runs(x == top)
    longest = int(lengths.max()) if lengths.size else 0
    if longest >= need:
        raise TrialFailed(f"signal clipped: flat at its maximum {top:.4g} mN for "
                          f"{longest * 1000 / fs:.1f} ms (amplifier or ADC saturation?)",
                          code="clipped")
    k = int(np.argmax(x))
    near = x >= top - 4.0 * noise_sd
    starts, lengths = runs(near)
    j = int(np.searchsorted(starts, k, side="right")) - 1
    s0, n = int(starts[j]), int(lengths[j])
    # samples replaced by blanking (straight lines) carry no noise: left out of both tests
    real = np.ones(n, dtype=bool) if blanked is None else ~blanked[s0:s0 + n]
    on_top = int(np.count_nonzero(x[s0:s0 + n][real] == top))
    if n >= need and on_top >= max(4, 0.4 * np.count_nonzero(real)):
        raise TrialFailed(f"signal clipped: {on_top} of the {int(np.count_nonzero(real))} "
                          f"samples at the top sit exactly at its maximum {top:.4g} mN "
                          f"(a rail)", code="clipped")
    pairs = real[1:] & real[:-1]
    if n >= need and np.count_nonzero(pairs) >= QUIET_TOP_SAMPLES:
        spread = float(np.std(np.diff(x[s0:s0 + n])[pairs])) / math.sqrt(2.0)
        if spread < QUIET_TOP_FRACTION * noise_sd:
            raise TrialFailed(
                f"signal clipped: top flat within {spread:.2g} mN for {n * 1000 / fs:.1f} ms, "
                f"quieter than the baseline noise ({noise_sd:.2g} mN SD): force on a rail",
                code="clipped")


def second_contraction(a: np.ndarray, start: int, stop: int, floor: float,
                       cfg: AnalysisConfig, rise_span: int) -> tuple[int, float]:
    """Where a second contraction begins in ``a`` (force above baseline, smoothed).

    From ``start``, the first contraction has ended once force has fallen more than
    ``second_contraction_percent`` % of the highest force so far (and ``floor``); a later
    rise by as much within ``rise_span`` samples (as fast as a contraction, not a slow
    drift) marks a second one. Returns (index of the lowest force before that rise, where
    the window is cut, or -1; the rise in force units).
    """
    w = a[start:stop]
    if w.size < 3:
        return -1, 0.0
    frac = cfg.second_contraction_percent / 100.0
    runmax = np.maximum.accumulate(w)
    fell = np.flatnonzero((runmax - w > np.maximum(frac * runmax, floor)) & (runmax > floor))
    if fell.size == 0:
        return -1, 0.0
    i = int(fell[0])
    b = w[i:]
    n = max(1, min(rise_span, b.size - 1))
    thr = max(frac * float(runmax[i]), floor)
    rose = np.flatnonzero(b[n:] - b[:-n] > thr) if b.size > n else np.array([], dtype=int)
    if rose.size == 0:
        return -1, 0.0
    j = int(rose[0]) + n                       # first sample a fast rise has reached
    cut = int(np.argmin(b[:j + 1]))
    return start + i + cut, float(b[j] - b[cut])
