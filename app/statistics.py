"""Two-group statistics for a paper's table: descriptives, difference with CI, Hedges' g
with CI, Welch's t, an exact Mann–Whitney U (correct with ties) and Holm's adjustment.

Every function takes plain sequences of finite values (one per animal: the animal is
the experimental unit; ``app.compare`` averages several files of one animal first) and
returns NaN where a quantity is undefined (n < 2, no variance), never a made-up number.
Definitions, formulas and sources: docs/analysis.md §7.

Conventions: the difference is ``mean(b) − mean(a)`` (the second group minus the first,
e.g. treatment − vehicle); all tests are two-sided; confidence level 95 %.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import optimize, special, stats

NAN = math.nan
CONFIDENCE = 0.95
#: largest pooled sample size (n_a + n_b) for which the Mann–Whitney p is exact
EXACT_MWU_MAX_N = 60


@dataclass(frozen=True)
class Describe:
    """n, mean, SD (n − 1) and SEM = SD/√n of one group."""

    n: int
    mean: float
    sd: float
    sem: float


def describe(values: Sequence[float]) -> Describe:
    x = np.asarray(values, float)
    n = int(x.size)
    mean = float(x.mean()) if n else NAN
    sd = float(x.std(ddof=1)) if n >= 2 else NAN
    return Describe(n, mean, sd, sd / math.sqrt(n) if n >= 2 else NAN)


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of b − a, with the CI of the difference."""

    difference: float
    ci_low: float
    ci_high: float
    t: float
    df: float
    p: float


def welch(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Welch:
    """t = (m_b − m_a) / √(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite df; the CI of the
    difference is ± t_{1−α/2, df} · SE. Needs n ≥ 2 in both groups and some variance."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(b.mean() - a.mean()) if a.size and b.size else NAN
    if a.size < 2 or b.size < 2:
        return Welch(diff, NAN, NAN, NAN, NAN, NAN)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return Welch(diff, NAN, NAN, NAN, NAN, NAN)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    t = diff / se
    p = float(2 * stats.t.sf(abs(t), df))
    half = float(stats.t.ppf(0.5 + confidence / 2, df) * se)
    return Welch(diff, diff - half, diff + half, float(t), float(df), min(p, 1.0))


@dataclass(frozen=True)
class EffectSize:
    """Hedges' g (bias-corrected standardised difference b − a) with its CI."""

    g: float
    ci_low: float
    ci_high: float


def hedges_g(a: Sequence[float], b: Sequence[float],
             confidence: float = CONFIDENCE) -> EffectSize:
    """g = J · (m_b − m_a) / s_pooled, J = Γ(ν/2) / (√(ν/2) Γ((ν−1)/2)), ν = n_a + n_b − 2
    (Hedges 1981). The CI is exact: the noncentral-t interval for the noncentrality of
    t = d·√(n_a n_b/(n_a+n_b)) (Steiger & Fouladi 1997), scaled back to d and by J."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = a.size, b.size
    if na < 2 or nb < 2:
        return EffectSize(NAN, NAN, NAN)
    nu = na + nb - 2
    sp = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / nu)
    if sp == 0:
        return EffectSize(NAN, NAN, NAN)
    d = (b.mean() - a.mean()) / sp
    j = math.exp(special.gammaln(nu / 2) - special.gammaln((nu - 1) / 2)) / math.sqrt(nu / 2)
    scale = math.sqrt(na * nb / (na + nb))
    t_obs = d * scale
    alpha = 1 - confidence
    lo = _nct_ncp(t_obs, nu, 1 - alpha / 2)
    hi = _nct_ncp(t_obs, nu, alpha / 2)
    return EffectSize(float(j * d), float(j * lo / scale), float(j * hi / scale))


def _nct_ncp(t_obs: float, df: float, prob: float) -> float:
    """The noncentrality λ at which P(T ≤ t_obs | df, λ) = prob (decreasing in λ).

    Bracketed around the normal approximation λ ≈ t ∓ z·√(1 + t²/(2ν)); where the
    noncentral t cannot be evaluated (very large |t|) that approximation is returned."""
    z = float(stats.norm.ppf(prob))
    guess = t_obs - z * math.sqrt(1 + t_obs ** 2 / (2 * df))
    step = 1.0 + abs(guess - t_obs)

    def f(ncp: float) -> float:
        return float(stats.nct.cdf(t_obs, df, ncp)) - prob
    lo, hi = guess - step, guess + step
    for _ in range(60):
        flo, fhi = f(lo), f(hi)
        if not (math.isfinite(flo) and math.isfinite(fhi)):
            return guess
        if flo >= 0 >= fhi:
            try:
                return float(optimize.brentq(f, lo, hi, xtol=1e-12))
            except (ValueError, RuntimeError):        # NaN inside the bracket
                return guess
        lo, hi = (lo - step, hi) if flo < 0 else (lo, hi + step)
        step *= 2
    return guess


@dataclass(frozen=True)
class MannWhitney:
    """U of the first group (pairs a > b, ties counted ½) and the two-sided p."""

    u: float
    p: float
    exact: bool


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> MannWhitney:
    """Two-sided Mann–Whitney U. Up to :data:`EXACT_MWU_MAX_N` values in all, p is exact:
    the permutation distribution of the midrank sum of ``a`` over all C(N, n_a)
    assignments (so it is right with ties), p = 2·min(P(U ≤ u), P(U ≥ u)) capped at 1
    — the definition of ``scipy.stats.permutation_test``, equal to scipy's exact
    ``mannwhitneyu`` without ties. Larger samples: the normal approximation with tie
    correction and continuity correction (``scipy.stats.mannwhitneyu``)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = a.size, b.size
    if na < 1 or nb < 1:
        return MannWhitney(NAN, NAN, False)
    ranks = stats.rankdata(np.concatenate([a, b]))
    u = float(ranks[:na].sum() - na * (na + 1) / 2)
    if na + nb > EXACT_MWU_MAX_N:
        p = float(stats.mannwhitneyu(a, b, alternative="two-sided",
                                     method="asymptotic").pvalue)
        return MannWhitney(u, p, False)
    doubled = np.rint(2 * ranks).astype(np.int64)          # midranks are multiples of ½
    counts = _subset_sum_counts(doubled, na)
    observed = int(doubled[:na].sum())
    total = counts.sum()
    p_low = counts[: observed + 1].sum() / total
    p_high = counts[observed:].sum() / total
    return MannWhitney(u, float(min(1.0, 2 * min(p_low, p_high))), True)


def _subset_sum_counts(values: np.ndarray, k: int) -> np.ndarray:
    """counts[s] = number of k-element subsets of ``values`` (non-negative ints) summing
    to s: dynamic programming over the items, one numpy row per subset size."""
    top = int(values.sum())
    ways = np.zeros((k + 1, top + 1))
    ways[0, 0] = 1.0
    for i, v in enumerate(values):
        for size in range(min(i + 1, k), 0, -1):
            ways[size, v:] += ways[size - 1, : top + 1 - v]
    return ways[k]


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (Holm 1979): with the m finite p sorted ascending,
    p_(i)^adj = max_{j ≤ i} min(1, (m − j + 1) p_(j)). NaN entries stay NaN and do not
    count in m."""
    p = np.asarray(pvalues, float)
    out = np.full(p.shape, NAN)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    if m == 0:
        return out.tolist()
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out.tolist()
