"""Group comparison of session summaries: n, mean ± SEM, Welch's t and Mann-Whitney U.

Each analysed session contributes one value per parameter (its summary: Pt, TPT, ½RT,
Po, Pt/Po, f50, fatigue index, specific force), so n counts animals/muscles, not
contractions. Between every pair of groups, two two-sided tests are reported:

* Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``): needs n >= 2 per group;
* Mann-Whitney U (``scipy.stats.mannwhitneyu``, two-sided; exact for small samples
  without ties): needs n >= 1 per group.

p-values are *not* corrected for multiple comparisons (8 parameters, and every pair
of groups when there are more than two): apply the correction the study plan
prescribes. The force-frequency curve per group is the mean ± SEM, at each
frequency, of each session's force normalised to its own maximum.
"""
from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import stats

from app.analysis.results import SessionResult


@dataclass(frozen=True)
class Parameter:
    key: str           # key in SessionResult.summary
    label: str
    unit: str


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("pt_mN", "Pt", "mN"),
    Parameter("tpt_ms", "TPT", "ms"),
    Parameter("half_relaxation_ms", "½RT", "ms"),
    Parameter("po_mN", "Po", "mN"),
    Parameter("pt_po_ratio", "Pt/Po", ""),
    Parameter("f50_hz", "f50", "Hz"),
    Parameter("fatigue_index", "fatigue index", ""),
    Parameter("specific_force_N_per_cm2", "specific force", "N/cm²"),
)


@dataclass
class GroupStat:
    parameter: Parameter
    group: str
    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def sem(self) -> float:
        """Standard error of the mean, SD (n − 1) / √n; NaN for n < 2."""
        if self.n < 2:
            return math.nan
        return float(np.std(self.values, ddof=1) / math.sqrt(self.n))


@dataclass
class Test:
    parameter: Parameter
    group_a: str
    group_b: str
    n_a: int
    n_b: int
    p_welch: float
    p_mann_whitney: float


@dataclass
class FFPoint:
    group: str
    frequency_hz: float
    values: list[float]          # normalised force of each session at this frequency

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def sem(self) -> float:
        return float(np.std(self.values, ddof=1) / math.sqrt(self.n)) if self.n > 1 else math.nan


@dataclass
class Comparison:
    groups: list[str]
    members: dict[str, list[str]]                 # group -> files
    stats: list[GroupStat] = field(default_factory=list)
    tests: list[Test] = field(default_factory=list)
    force_frequency: list[FFPoint] = field(default_factory=list)

    def stat(self, key: str, group: str) -> GroupStat:
        return next(s for s in self.stats if s.parameter.key == key and s.group == group)


def _value(result: SessionResult, key: str) -> float:
    v = result.summary.get(key)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p; NaN when a group has n < 2 or neither group varies."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if np.var(a) == 0 and np.var(b) == 0:     # t undefined (scipy warns and gives NaN)
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p; NaN when a group is empty."""
    if len(a) < 1 or len(b) < 1:
        return math.nan
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def compare_sessions(results: Sequence[SessionResult], groups: Sequence[str]) -> Comparison:
    """Compare sessions by group (``groups[i]`` is the group of ``results[i]``)."""
    if len(results) != len(groups):
        raise ValueError("one group per result is needed")
    order = list(dict.fromkeys(groups))              # first-seen order
    members = {g: [r.file for r, gg in zip(results, groups) if gg == g] for g in order}
    comp = Comparison(groups=order, members=members)
    for p in PARAMETERS:
        for g in order:
            vals = [_value(r, p.key) for r, gg in zip(results, groups) if gg == g]
            comp.stats.append(GroupStat(p, g, [v for v in vals if math.isfinite(v)]))
    for ga, gb in itertools.combinations(order, 2):
        for p in PARAMETERS:
            a, b = comp.stat(p.key, ga).values, comp.stat(p.key, gb).values
            comp.tests.append(Test(p, ga, gb, len(a), len(b), welch_p(a, b),
                                   mann_whitney_p(a, b)))
    comp.force_frequency = _ff_curves(results, groups, order)
    return comp


def _ff_curves(results: Sequence[SessionResult], groups: Sequence[str],
               order: list[str]) -> list[FFPoint]:
    acc: dict[tuple[str, float], list[float]] = {}
    for r, g in zip(results, groups):
        ff = r.summary.get("force_frequency") or {}
        norm = ff.get("force_normalized")
        if not norm:
            continue
        for f, v in zip(ff["frequency_hz"], norm):
            if v is not None and math.isfinite(v):
                acc.setdefault((g, round(float(f), 1)), []).append(float(v))
    return [FFPoint(g, f, v) for (g, f), v in
            sorted(acc.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1]))]


CSV_COLUMNS = ("kind", "parameter", "unit", "group", "n", "mean", "sem", "frequency_hz",
               "group_b", "n_b", "p_welch", "p_mann_whitney")


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.6g}"
    return v


def comparison_rows(comp: Comparison) -> list[dict[str, Any]]:
    """Flat rows (kind = summary / test / force_frequency) for the CSV file."""
    rows: list[dict[str, Any]] = []
    for s in comp.stats:
        rows.append({"kind": "summary", "parameter": s.parameter.key, "unit": s.parameter.unit,
                     "group": s.group, "n": s.n, "mean": s.mean, "sem": s.sem})
    for t in comp.tests:
        rows.append({"kind": "test", "parameter": t.parameter.key, "unit": t.parameter.unit,
                     "group": t.group_a, "n": t.n_a, "group_b": t.group_b, "n_b": t.n_b,
                     "p_welch": t.p_welch, "p_mann_whitney": t.p_mann_whitney})
    for p in comp.force_frequency:
        rows.append({"kind": "force_frequency", "parameter": "force_normalized", "unit": "",
                     "group": p.group, "n": p.n, "mean": p.mean, "sem": p.sem,
                     "frequency_hz": p.frequency_hz})
    return rows


def write_csv(comp: Comparison, path: str | Path) -> None:
    """Write the comparison as one CSV table (columns :data:`CSV_COLUMNS`)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for row in comparison_rows(comp):
            w.writerow({k: _cell(row.get(k, "")) for k in CSV_COLUMNS})
