"""Group comparison of session summaries with the animal as the experimental unit.

Each analysed session contributes one value per outcome (its summary: Pt, TPT, ½RT,
Po, Pt/Po, f50, fatigue index, specific force). Sessions are pooled per animal (the
metadata ``subject_id``, or another key): several files of one animal are averaged —
said in a note — so n counts animals, never files or contractions; an animal found in
two groups is an error. Per group: n, mean, SD, SEM. Between every pair of groups, per
outcome (:mod:`app.statistics`): the difference of means (second − first group) with
its 95 % CI, Hedges' g with its 95 % CI, Welch's t with df and p, the exact
Mann–Whitney U p (correct with ties), and Holm-adjusted p-values across the outcomes
of that pair (on by default). A group with n < 2 gets no p and a note. Values carrying a
quality flag (app.analysis.flags) are counted per group, and left out on request.
"""
from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from app import statistics as st
from app.analysis.results import SessionResult, jsonable
from app.errors import UserError


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
class Animal:
    """One experimental unit: its files and its per-outcome values (mean over files)."""

    id: str
    group: str
    files: list[str]
    values: dict[str, float] = field(default_factory=dict)
    force_frequency: dict[float, float] = field(default_factory=dict)
    #: outcome -> number of this animal's files whose value carries a quality flag
    flagged: dict[str, int] = field(default_factory=dict)


@dataclass
class GroupStat:
    parameter: Parameter
    group: str
    values: list[float]             # one per animal with a finite value
    flagged: int = 0                # animals with a flagged value (kept or excluded)

    def _d(self) -> st.Describe:
        return st.describe(self.values)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return self._d().mean

    @property
    def sd(self) -> float:
        return self._d().sd

    @property
    def sem(self) -> float:
        """Standard error of the mean, SD (n − 1) / √n; NaN for n < 2."""
        return self._d().sem


@dataclass
class Test:
    """One outcome compared between two groups (difference = group_b − group_a)."""

    parameter: Parameter
    group_a: str
    group_b: str
    n_a: int
    n_b: int
    difference: float = math.nan
    difference_ci: tuple[float, float] = (math.nan, math.nan)
    hedges_g: float = math.nan
    hedges_g_ci: tuple[float, float] = (math.nan, math.nan)
    t: float = math.nan
    df: float = math.nan
    p_welch: float = math.nan
    p_welch_holm: float = math.nan
    u: float = math.nan
    p_mann_whitney: float = math.nan
    p_mann_whitney_holm: float = math.nan
    mann_whitney_exact: bool = False
    note: str = ""


@dataclass
class FFPoint:
    group: str
    frequency_hz: float
    values: list[float]          # normalised force of each animal at this frequency

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def sem(self) -> float:
        return st.describe(self.values).sem


@dataclass
class Comparison:
    groups: list[str]
    members: dict[str, list[str]]                 # group -> animal ids
    animals: list[Animal] = field(default_factory=list)
    stats: list[GroupStat] = field(default_factory=list)
    tests: list[Test] = field(default_factory=list)
    force_frequency: list[FFPoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    holm: bool = True
    unit_key: str = "subject_id"

    def stat(self, key: str, group: str) -> GroupStat:
        return next(s for s in self.stats if s.parameter.key == key and s.group == group)

    def test(self, key: str, group_a: str, group_b: str) -> Test:
        return next(t for t in self.tests if t.parameter.key == key
                    and (t.group_a, t.group_b) == (group_a, group_b))


def summary_value(result: SessionResult, key: str) -> float:
    """A summary value as a float; NaN when absent or not a number."""
    try:
        return float(result.summary.get(key))
    except (TypeError, ValueError):
        return math.nan


def _ff_of(result: SessionResult) -> dict[float, float]:
    ff = result.summary.get("force_frequency") or {}
    out: dict[float, float] = {}
    for f, v in zip(ff.get("frequency_hz") or [], ff.get("force_normalized") or []):
        if v is not None and math.isfinite(v):
            out[round(float(f), 1)] = float(v)
    return out


#: trial measures behind each outcome (see :func:`flagged_outcomes`)
_SOURCES = {"pt_mN": ("pt", "peak_force_mN"), "tpt_ms": ("pt", "time_to_peak_ms"),
            "half_relaxation_ms": ("pt", "half_relaxation_ms"),
            "po_mN": ("po", "peak_force_mN"), "specific_force_N_per_cm2": ("po", "peak_force_mN"),
            "f50_hz": ("ff", "peak_force_mN"), "fatigue_index": ("fatigue", "peak_force_mN")}


def flagged_outcomes(result: SessionResult) -> set[str]:
    """Outcomes of a session whose value comes from a trial measure that a quality flag
    concerns (``TrialResult.flagged_measures``): Pt, TPT, ½RT from the session twitches; Po and
    specific force from the Po tetanus; Pt/Po from either; f50 from any force–frequency
    tetanus; the fatigue index from any fatigue train."""
    trials = {t.index: t for t in result.trials}
    s = result.summary
    fatigue = set((s.get("fatigue") or {}).get("trials") or [])
    # the session Pt is the mean of the twitch step's twitches (pt_trials), not one twitch
    pt_trials = s.get("pt_trials") or [s.get("pt_trial")]
    sources = {"pt": [trials.get(i) for i in pt_trials], "po": [trials.get(s.get("po_trial"))],
               "fatigue": [trials.get(i) for i in fatigue],
               "ff": [t for t in result.trials if t.kind == "tetanus" and not t.left_out
                      and t.index not in fatigue]}
    out = set()
    for key, (src, measure) in _SOURCES.items():
        if any(t is not None and measure in t.flagged_measures() for t in sources[src]):
            out.add(key)
    if out & {"pt_mN", "po_mN"}:
        out.add("pt_po_ratio")
    return out


def pool_animals(results: Sequence[SessionResult], groups: Sequence[str],
                 unit_key: str = "subject_id", exclude_flagged: bool = False
                 ) -> tuple[list[Animal], list[str]]:
    """One :class:`Animal` per ``metadata[unit_key]`` (a file without one is its own
    unit); values are the mean over the animal's files. Flagged values are counted, and
    left out with ``exclude_flagged``. Returns (animals, notes); UserError if an animal
    is in two groups."""
    by_id: dict[str, Animal] = {}
    per: dict[str, list[SessionResult]] = {}
    notes: list[str] = []
    for r, g in zip(results, groups):
        raw = r.metadata.get(unit_key)
        aid = str(raw) if raw not in (None, "") else r.file
        if raw in (None, ""):
            notes.append(f"{r.file}: no {unit_key} in its metadata; counted as its own animal")
        a = by_id.get(aid)
        if a is None:
            by_id[aid] = a = Animal(aid, g, [])
        elif a.group != g:
            raise UserError(f"animal {aid} is in two groups: {a.group} ({a.files[0]}) and "
                            f"{g} ({r.file}); one animal belongs to one group")
        a.files.append(r.file)
        per.setdefault(aid, []).append(r)
    for aid, a in by_id.items():
        rs = per[aid]
        flags = [flagged_outcomes(r) for r in rs]
        for p in PARAMETERS:
            a.flagged[p.key] = sum(1 for f in flags if p.key in f)
            vals = [v for v, f in ((summary_value(r, p.key), f) for r, f in zip(rs, flags))
                    if math.isfinite(v) and not (exclude_flagged and p.key in f)]
            a.values[p.key] = float(np.mean(vals)) if vals else math.nan
            if exclude_flagged and a.flagged[p.key]:
                notes.append(f"animal {aid}: {p.label} flagged in {a.flagged[p.key]} "
                             f"file(s), left out")
        ffs = [_ff_of(r) for r in rs]
        for f in sorted({f for ff in ffs for f in ff}):
            a.force_frequency[f] = float(np.mean([ff[f] for ff in ffs if f in ff]))
        if len(rs) > 1:
            notes.append(f"animal {aid}: {len(rs)} files averaged ({', '.join(a.files)})")
    return list(by_id.values()), notes


def compare_sessions(results: Sequence[SessionResult], groups: Sequence[str], *,
                     unit_key: str = "subject_id", adjust: bool = True,
                     exclude_flagged: bool = False) -> Comparison:
    """Compare sessions by group (``groups[i]`` is the group of ``results[i]``)."""
    if len(results) != len(groups):
        raise ValueError("one group per result is needed")
    animals, notes = pool_animals(results, groups, unit_key, exclude_flagged)
    return compare_animals(animals, notes=notes, adjust=adjust, unit_key=unit_key)


def compare_animals(animals: Sequence[Animal], *, notes: Sequence[str] = (),
                    adjust: bool = True, unit_key: str = "subject_id") -> Comparison:
    """Group statistics and pairwise tests from per-animal values."""
    order = list(dict.fromkeys(a.group for a in animals))
    comp = Comparison(groups=order, members={g: [a.id for a in animals if a.group == g]
                                             for g in order},
                      animals=list(animals), notes=list(notes), holm=adjust,
                      unit_key=unit_key)
    for p in PARAMETERS:
        for g in order:
            members = [a for a in animals if a.group == g]
            vals = [a.values.get(p.key, math.nan) for a in members]
            comp.stats.append(GroupStat(p, g, [v for v in vals if math.isfinite(v)],
                                        sum(1 for a in members if a.flagged.get(p.key))))
    for ga, gb in itertools.combinations(order, 2):
        pair = [_test(p, comp.stat(p.key, ga).values, comp.stat(p.key, gb).values, ga, gb)
                for p in PARAMETERS]
        if adjust:
            for name in ("p_welch", "p_mann_whitney"):
                for t, adj in zip(pair, st.holm([getattr(t, name) for t in pair])):
                    setattr(t, name + "_holm", adj)
        comp.tests.extend(pair)
        small = [g for g in (ga, gb) if len(comp.members[g]) < 2]
        if small:
            comp.notes.append(f"{' and '.join(small)}: fewer than 2 animals, no p-values for "
                              f"{ga} vs {gb}")
    comp.force_frequency = _ff_curves(animals, order)
    return comp


def _test(p: Parameter, a: list[float], b: list[float], ga: str, gb: str) -> Test:
    t = Test(p, ga, gb, len(a), len(b))
    if not a or not b:
        t.note = "no values in " + " and ".join(g for g, v in ((ga, a), (gb, b)) if not v)
        return t
    w = st.welch(a, b)
    e = st.hedges_g(a, b)
    t.difference, t.difference_ci = w.difference, (w.ci_low, w.ci_high)
    t.hedges_g, t.hedges_g_ci = e.g, (e.ci_low, e.ci_high)
    t.t, t.df, t.p_welch = w.t, w.df, w.p
    if len(a) < 2 or len(b) < 2:
        t.note = "n < 2: no p"
        return t
    m = st.mann_whitney(a, b)
    t.u, t.p_mann_whitney, t.mann_whitney_exact = m.u, m.p, m.exact
    if not math.isfinite(w.p):
        t.note = "no variance in either group: t undefined"
    return t


def _ff_curves(animals: Sequence[Animal], order: list[str]) -> list[FFPoint]:
    acc: dict[tuple[str, float], list[float]] = {}
    for a in animals:
        for f, v in a.force_frequency.items():
            acc.setdefault((a.group, f), []).append(v)
    return [FFPoint(g, f, v) for (g, f), v in
            sorted(acc.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1]))]


# ------------------------------------------------------------------------ outputs
CSV_COLUMNS = ("kind", "parameter", "unit", "group", "n", "mean", "sd", "sem", "flagged",
               "frequency_hz", "group_b", "n_b", "difference", "difference_ci_low",
               "difference_ci_high", "hedges_g", "hedges_g_ci_low", "hedges_g_ci_high",
               "t", "df", "p_welch", "p_welch_holm", "u", "p_mann_whitney",
               "p_mann_whitney_holm", "mann_whitney_exact", "animal", "files", "note")


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.6g}"
    return v


def comparison_rows(comp: Comparison) -> list[dict[str, Any]]:
    """Flat rows (kind = summary / test / force_frequency / animal / note) for CSV."""
    rows: list[dict[str, Any]] = []
    for s in comp.stats:
        rows.append({"kind": "summary", "parameter": s.parameter.key, "unit": s.parameter.unit,
                     "group": s.group, "n": s.n, "mean": s.mean, "sd": s.sd, "sem": s.sem,
                     "flagged": s.flagged})
    for t in comp.tests:
        rows.append({"kind": "test", "parameter": t.parameter.key, "unit": t.parameter.unit,
                     "group": t.group_a, "n": t.n_a, "group_b": t.group_b, "n_b": t.n_b,
                     "difference": t.difference, "difference_ci_low": t.difference_ci[0],
                     "difference_ci_high": t.difference_ci[1], "hedges_g": t.hedges_g,
                     "hedges_g_ci_low": t.hedges_g_ci[0], "hedges_g_ci_high": t.hedges_g_ci[1],
                     "t": t.t, "df": t.df, "p_welch": t.p_welch, "p_welch_holm": t.p_welch_holm,
                     "u": t.u, "p_mann_whitney": t.p_mann_whitney,
                     "p_mann_whitney_holm": t.p_mann_whitney_holm,
                     "mann_whitney_exact": t.mann_whitney_exact if t.n_a and t.n_b else "",
                     "note": t.note})
    for p in comp.force_frequency:
        rows.append({"kind": "force_frequency", "parameter": "force_normalized", "unit": "",
                     "group": p.group, "n": p.n, "mean": p.mean, "sem": p.sem,
                     "frequency_hz": p.frequency_hz})
    for a in comp.animals:
        for p in PARAMETERS:
            rows.append({"kind": "animal", "parameter": p.key, "unit": p.unit, "group": a.group,
                         "n": len(a.files), "mean": a.values.get(p.key, math.nan),
                         "flagged": a.flagged.get(p.key, 0),
                         "animal": a.id, "files": ";".join(a.files)})
    rows.extend({"kind": "note", "note": n} for n in comp.notes)
    return rows


def write_csv(comp: Comparison, path: str | Path) -> None:
    """Write the comparison as one CSV table (columns :data:`CSV_COLUMNS`)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for row in comparison_rows(comp):
            w.writerow({k: _cell(row.get(k, "")) for k in CSV_COLUMNS})


def comparison_to_dict(comp: Comparison) -> dict[str, Any]:
    """The comparison as plain JSON-able data (NaN as None)."""
    def test(t: Test) -> dict[str, Any]:
        d = {k: v for k, v in vars(t).items() if k != "parameter"}
        return {"parameter": t.parameter.key, "unit": t.parameter.unit, **d}
    return jsonable({
        "unit": comp.unit_key, "holm": comp.holm, "groups": comp.groups,
        "members": comp.members, "notes": comp.notes,
        "animals": [vars(a) for a in comp.animals],
        "summary": [{"parameter": s.parameter.key, "unit": s.parameter.unit, "group": s.group,
                     "n": s.n, "mean": s.mean, "sd": s.sd, "sem": s.sem, "flagged": s.flagged,
                     "values": s.values}
                    for s in comp.stats],
        "tests": [test(t) for t in comp.tests],
        "force_frequency": [{"group": p.group, "frequency_hz": p.frequency_hz, "n": p.n,
                             "mean": p.mean, "sem": p.sem} for p in comp.force_frequency],
    })
