"""app.statistics against scipy and hand-computed values: Welch t and CI, exact
Mann–Whitney U with and without ties (n = 2, 3 …), Hedges' g with its exact CI, Holm."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from app.statistics import (
    EXACT_MWU_MAX_N, describe, hedges_g, holm, mann_whitney, welch,
)

VECTORS = [
    ([1.0, 2.0], [3.0, 4.5]),                                   # n = 2, 2
    ([5.1, 4.9, 5.6], [6.2, 7.0, 6.4]),                         # n = 3, 3
    ([5.1, 4.9, 5.6], [6.2, 7.0]),                              # n = 3, 2
    ([200.3, 188.1, 214.9, 201.0, 195.5], [221.0, 240.2, 219.9, 251.3]),
    ([1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 3.0, 4.0, 5.0]),          # ties across groups
    ([4.0, 4.0, 4.0], [4.0, 5.0, 5.0]),                         # heavy ties
    ([1.0, 1.0], [1.0, 2.0]),                                   # n = 2 with ties
]


@pytest.mark.parametrize("a,b", VECTORS)
def test_welch_agrees_with_scipy(a, b):
    w = welch(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert w.t == pytest.approx(ref.statistic, rel=1e-10)
    assert w.df == pytest.approx(ref.df, rel=1e-10)
    assert w.p == pytest.approx(ref.pvalue, rel=1e-9)
    lo, hi = ref.confidence_interval(0.95)
    assert (w.ci_low, w.ci_high) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    assert w.difference == pytest.approx(np.mean(b) - np.mean(a))


@pytest.mark.parametrize("a,b", VECTORS)
def test_mann_whitney_exact_agrees_with_scipy(a, b):
    m = mann_whitney(a, b)
    assert m.exact
    assert m.u == pytest.approx(stats.mannwhitneyu(a, b).statistic)
    # the exact permutation distribution (every one of C(N, n_a) assignments)
    perm = stats.permutation_test(
        (a, b), lambda x, y, axis: stats.mannwhitneyu(x, y, axis=axis,
                                                      method="asymptotic").statistic,
        permutation_type="independent", n_resamples=np.inf, alternative="two-sided",
        vectorized=True)
    assert m.p == pytest.approx(perm.pvalue, rel=1e-9)
    if len(set(a) | set(b)) == len(a) + len(b):               # no ties: scipy's exact
        assert m.p == pytest.approx(
            stats.mannwhitneyu(a, b, method="exact").pvalue, rel=1e-9)


def test_mann_whitney_by_enumeration_with_ties():
    """p from listing all 10 assignments of {1,2,2,3,5} into groups of 2 and 3 by hand."""
    a, b = [2.0, 5.0], [1.0, 2.0, 3.0]
    pooled = a + b
    ranks = stats.rankdata(pooled)
    obs = ranks[:2].sum()
    sums = [ranks[list(c)].sum() for c in itertools.combinations(range(5), 2)]
    lo = sum(s <= obs for s in sums) / 10
    hi = sum(s >= obs for s in sums) / 10
    assert mann_whitney(a, b).p == pytest.approx(min(1, 2 * min(lo, hi)))


def test_mann_whitney_complete_separation_small_n():
    # n = 3, 3 completely separated: exact p = 2 / C(6, 3) = 0.1
    assert mann_whitney([1, 2, 3], [4, 5, 6]).p == pytest.approx(0.1)
    # n = 2, 2: 2 / C(4, 2) = 1/3
    assert mann_whitney([1, 2], [3, 4]).p == pytest.approx(1 / 3)


def test_mann_whitney_large_n_is_scipy_asymptotic():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 40), rng.normal(0.5, 1, 40)
    assert a.size + b.size > EXACT_MWU_MAX_N
    m = mann_whitney(a, b)
    assert not m.exact
    assert m.p == pytest.approx(stats.mannwhitneyu(a, b, method="asymptotic").pvalue)


def test_undefined_cases_give_nan():
    assert math.isnan(welch([1.0], [2.0, 3.0]).p)
    assert math.isnan(welch([1.0, 1.0], [2.0, 2.0]).p)     # no variance: t undefined
    assert math.isnan(mann_whitney([], [1.0]).p)
    assert math.isnan(hedges_g([1.0], [2.0, 3.0]).g)
    assert math.isnan(hedges_g([1.0, 1.0], [2.0, 2.0]).g)
    d = describe([4.0])
    assert d.n == 1 and d.mean == 4.0 and math.isnan(d.sd) and math.isnan(d.sem)


def test_describe():
    d = describe([1.0, 2.0, 4.0])
    assert d.sd == pytest.approx(math.sqrt(7 / 3)) and d.sem == pytest.approx(d.sd / math.sqrt(3))


@pytest.mark.parametrize("a,b", VECTORS[:5])
def test_hedges_g_and_its_exact_interval(a, b):
    a_, b_ = np.asarray(a), np.asarray(b)
    na, nb = a_.size, b_.size
    sp = math.sqrt(((na - 1) * a_.var(ddof=1) + (nb - 1) * b_.var(ddof=1)) / (na + nb - 2))
    d = (b_.mean() - a_.mean()) / sp
    nu = na + nb - 2
    j = math.gamma(nu / 2) / (math.sqrt(nu / 2) * math.gamma((nu - 1) / 2))
    e = hedges_g(a, b)
    assert e.g == pytest.approx(j * d, rel=1e-10)
    # Cohen's d equals the pooled t-statistic scaled by sqrt(1/na + 1/nb) (scipy)
    t_pooled = stats.ttest_ind(b, a, equal_var=True).statistic
    assert d == pytest.approx(t_pooled * math.sqrt(1 / na + 1 / nb), rel=1e-10)
    # the interval's ends are where the noncentral t puts the observed t at 97.5 / 2.5 %
    scale = math.sqrt(na * nb / (na + nb))
    for end, prob in ((e.ci_low, 0.975), (e.ci_high, 0.025)):
        assert stats.nct.cdf(t_pooled, nu, end / j * scale) == pytest.approx(prob, abs=1e-7)
    assert e.ci_low < e.g < e.ci_high


def test_hedges_g_large_sample_matches_normal_approximation():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 300), rng.normal(0.5, 1, 300)
    e = hedges_g(a, b)
    se = math.sqrt(600 / 90000 + e.g ** 2 / 1200)            # Hedges & Olkin (1985)
    assert e.ci_low == pytest.approx(e.g - 1.96 * se, abs=0.01)
    assert e.ci_high == pytest.approx(e.g + 1.96 * se, abs=0.01)


@pytest.mark.parametrize("p,expected", [
    # m = 3: sorted 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (monotone)
    ([0.04, 0.01, 0.02], [0.04, 0.03, 0.04]),
    # m = 4: 0.005*4=0.02, 0.011*3=0.033, 0.02*2=0.04, 0.8*1=0.8
    ([0.8, 0.02, 0.005, 0.011], [0.8, 0.04, 0.02, 0.033]),
    # monotonicity enforced: 0.01*3=0.03, 0.012*2=0.024 -> 0.03, 0.5
    ([0.012, 0.01, 0.5], [0.03, 0.03, 0.5]),
    # capped at 1, NaN kept and not counted (m = 2)
    ([0.6, math.nan, 0.7], [1.0, math.nan, 1.0]),
    ([math.nan], [math.nan]),
    ([0.03], [0.03]),
])
def test_holm_hand_computed(p, expected):
    got = holm(p)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert (math.isnan(g) and math.isnan(e)) or g == pytest.approx(e)
