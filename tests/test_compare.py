"""Group comparison: n, mean ± SEM, Welch t and Mann-Whitney U, force-frequency by group."""
import csv
import math

import numpy as np
import pytest
from scipy import stats

from app.analysis.results import SessionResult
from app.compare import (
    CSV_COLUMNS, PARAMETERS, compare_sessions, comparison_to_dict, write_csv,
)
from app.errors import UserError
from app.statistics import holm


def welch_p(a, b):
    return compare_sessions([session(f"a{i}", pt_mN=v) for i, v in enumerate(a)]
                            + [session(f"b{i}", pt_mN=v) for i, v in enumerate(b)],
                            ["A"] * len(a) + ["B"] * len(b)).test("pt_mN", "A", "B").p_welch


def mann_whitney_p(a, b):
    return compare_sessions([session(f"a{i}", pt_mN=v) for i, v in enumerate(a)]
                            + [session(f"b{i}", pt_mN=v) for i, v in enumerate(b)],
                            ["A"] * len(a) + ["B"] * len(b)).test("pt_mN", "A", "B"
                                                                  ).p_mann_whitney


def session(name, subject=None, **summary):
    ff = summary.pop("ff", None)
    s = {p.key: summary.get(p.key, math.nan) for p in PARAMETERS}
    if ff:
        s["force_frequency"] = {"frequency_hz": list(ff), "force_normalized": list(ff.values())}
    return SessionResult(file=name + ".h5", format="synthetic", summary=s,
                         metadata={"subject_id": subject or name})


def welch_by_hand(a, b):
    """Welch's t-test from its formula (independent of scipy.stats.ttest_ind)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    return 2 * stats.t.sf(abs(t), df)


def test_group_statistics_and_tests():
    rng = np.random.default_rng(5)
    veh = rng.normal(200, 15, 7)
    mg = rng.normal(240, 25, 6)
    results = [session(f"v{i}", pt_mN=v, po_mN=10 * v) for i, v in enumerate(veh)] + \
              [session(f"m{i}", pt_mN=v) for i, v in enumerate(mg)]
    groups = ["vehicle"] * 7 + ["Mg"] * 6
    comp = compare_sessions(results, groups)
    assert comp.groups == ["vehicle", "Mg"]
    s = comp.stat("pt_mN", "Mg")
    assert s.n == 6 and s.mean == pytest.approx(mg.mean())
    assert s.sem == pytest.approx(mg.std(ddof=1) / math.sqrt(6))
    assert comp.stat("po_mN", "Mg").n == 0 and math.isnan(comp.stat("po_mN", "Mg").mean)
    (t,) = [x for x in comp.tests if x.parameter.key == "pt_mN"]
    assert (t.group_a, t.group_b, t.n_a, t.n_b) == ("vehicle", "Mg", 7, 6)
    assert t.p_welch == pytest.approx(welch_by_hand(veh, mg), rel=1e-9)
    # Mann-Whitney U from its definition: U = number of pairs with a > b
    u = sum(1 for x in veh for y in mg if x > y)
    assert t.p_mann_whitney == pytest.approx(
        stats.mannwhitneyu(veh, mg, alternative="two-sided").pvalue)
    assert 0 <= u <= 42
    assert math.isnan(next(x for x in comp.tests if x.parameter.key == "po_mN").p_welch)
    ref = stats.ttest_ind(mg, veh, equal_var=False)
    assert t.t == pytest.approx(ref.statistic) and t.df == pytest.approx(ref.df)
    assert t.difference == pytest.approx(mg.mean() - veh.mean())
    assert t.difference_ci == pytest.approx(tuple(ref.confidence_interval()))
    assert s.sd == pytest.approx(mg.std(ddof=1))
    assert t.p_welch_holm == pytest.approx(t.p_welch)         # the only finite p of the pair


def test_tests_detect_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(11)
    a, b = rng.normal(100, 5, 10), rng.normal(130, 5, 10)
    c = rng.permutation(a) + 0.01 * rng.normal(size=10)      # the same values, shuffled
    assert welch_p(a, b) < 0.001 and mann_whitney_p(a, b) < 0.001
    assert welch_p(a, c) > 0.9 and mann_whitney_p(a, c) > 0.9


def test_small_samples():
    assert math.isnan(welch_p([1.0], [2.0, 3.0]))
    assert math.isnan(welch_p([1.0, 1.0], [2.0, 2.0]))        # no variance: t undefined
    assert math.isnan(mann_whitney_p([1.0], [2.0, 3.0]))        # n < 2: no p at all


def test_pairwise_for_three_groups_and_ff_curves(tmp_path):
    results = [session("a1", pt_mN=1.0, ff={1: 0.1, 50: 0.5, 100: 1.0}),
               session("a2", pt_mN=2.0, ff={1: 0.2, 50: 0.7, 100: 1.0}),
               session("b1", pt_mN=3.0, ff={1: 0.3, 100: 1.0}),
               session("c1", pt_mN=4.0)]
    comp = compare_sessions(results, ["A", "A", "B", "C"])
    pairs = {(t.group_a, t.group_b) for t in comp.tests}
    assert pairs == {("A", "B"), ("A", "C"), ("B", "C")}
    assert len(comp.tests) == 3 * len(PARAMETERS)
    pts = {(p.group, p.frequency_hz): p for p in comp.force_frequency}
    assert pts[("A", 50.0)].mean == pytest.approx(0.6)
    assert pts[("A", 50.0)].sem == pytest.approx(np.std([0.5, 0.7], ddof=1) / math.sqrt(2))
    assert pts[("B", 1.0)].n == 1 and math.isnan(pts[("B", 1.0)].sem)
    out = tmp_path / "cmp.csv"
    write_csv(comp, out)
    rows = list(csv.DictReader(out.open()))
    assert tuple(rows[0]) == CSV_COLUMNS
    kinds = {r["kind"] for r in rows}
    assert kinds == {"summary", "test", "force_frequency", "animal", "note"}
    a_pt = next(r for r in rows if r["kind"] == "summary" and r["parameter"] == "pt_mN"
                and r["group"] == "A")
    assert float(a_pt["mean"]) == pytest.approx(1.5) and a_pt["n"] == "2"
    assert next(r for r in rows if r["kind"] == "summary" and r["group"] == "C"
                and r["parameter"] == "pt_mN")["sem"] == ""


def test_groups_and_results_must_align():
    with pytest.raises(ValueError):
        compare_sessions([session("a")], [])


def test_files_of_one_animal_are_averaged_with_a_note():
    results = [session("r1-a", "R1", pt_mN=100.0), session("r1-b", "R1", pt_mN=110.0),
               session("r2", "R2", pt_mN=120.0), session("r3", "R3", pt_mN=150.0),
               session("r4", "R4", pt_mN=170.0)]
    comp = compare_sessions(results, ["veh", "veh", "veh", "trt", "trt"])
    s = comp.stat("pt_mN", "veh")
    assert s.n == 2 and sorted(s.values) == [105.0, 120.0]
    assert comp.members == {"veh": ["R1", "R2"], "trt": ["R3", "R4"]}
    assert any("R1" in n and "2 files averaged" in n for n in comp.notes)


def test_an_animal_in_two_groups_is_an_error():
    results = [session("a", "R7", pt_mN=1.0), session("b", "R7", pt_mN=2.0)]
    with pytest.raises(UserError, match="R7.*two groups"):
        compare_sessions(results, ["veh", "trt"])


def test_holm_across_outcomes_and_option_off():
    rng = np.random.default_rng(2)
    res, groups = [], []
    for g, shift in (("veh", 0.0), ("trt", 1.0)):
        for i in range(5):
            res.append(session(f"{g}{i}", pt_mN=10 + shift * 3 + rng.normal(),
                               po_mN=50 + shift + rng.normal(), tpt_ms=20 + rng.normal()))
            groups.append(g)
    comp = compare_sessions(res, groups)
    tests = [comp.test(p.key, "veh", "trt") for p in PARAMETERS]
    raw = [t.p_welch for t in tests]
    assert [t.p_welch_holm for t in tests] == pytest.approx(holm(raw), nan_ok=True)
    assert sum(math.isfinite(p) for p in raw) == 3
    off = compare_sessions(res, groups, adjust=False)
    assert all(math.isnan(t.p_welch_holm) for t in off.tests) and not off.holm


def test_group_of_one_gets_no_p_and_a_note(tmp_path):
    comp = compare_sessions([session("a", pt_mN=1.0), session("b", pt_mN=2.0),
                             session("c", pt_mN=3.0)], ["A", "A", "B"])
    t = comp.test("pt_mN", "A", "B")
    assert math.isnan(t.p_welch) and math.isnan(t.p_mann_whitney) and "n < 2" in t.note
    assert any("fewer than 2 animals" in n and "B" in n for n in comp.notes)
    d = comparison_to_dict(comp)
    assert d["tests"][0]["p_welch"] is None and d["members"] == {"A": ["a", "b"], "B": ["c"]}
    out = tmp_path / "c.csv"
    write_csv(comp, out)
    rows = list(csv.DictReader(out.open()))
    assert {r["kind"] for r in rows} == {"summary", "test", "animal", "note"}


def _flagged_session(name, pt, po, flag_pt=False):
    from app.analysis.flags import Flag
    from app.analysis.results import TrialResult
    tw = TrialResult(index=0, kind="twitch", peak_force_mN=pt,
                     flags=[Flag("baseline-drift", "test")] if flag_pt else [])
    te = TrialResult(index=1, kind="tetanus", peak_force_mN=po, frequency_hz=150.0)
    r = session(name, pt_mN=pt, po_mN=po, pt_po_ratio=pt / po)
    r.trials = [tw, te]
    r.summary.update(pt_trial=0, po_trial=1)
    return r


def test_flagged_measures_are_counted_and_can_be_excluded():
    from app.compare import flagged_outcomes
    res = [_flagged_session("a1", 100.0, 1000.0, flag_pt=True),
           _flagged_session("a2", 110.0, 1100.0), _flagged_session("a3", 120.0, 1050.0),
           _flagged_session("b1", 130.0, 1200.0), _flagged_session("b2", 140.0, 1250.0)]
    assert {"pt_mN", "pt_po_ratio"} <= flagged_outcomes(res[0])
    assert "po_mN" not in flagged_outcomes(res[0]) and not flagged_outcomes(res[1])
    groups = ["A"] * 3 + ["B"] * 2
    kept = compare_sessions(res, groups)
    assert kept.stat("pt_mN", "A").flagged == 1 and kept.stat("pt_mN", "A").n == 3
    assert kept.stat("po_mN", "A").flagged == 0
    out = compare_sessions(res, groups, exclude_flagged=True)
    assert out.stat("pt_mN", "A").n == 2 and out.stat("pt_mN", "A").mean == pytest.approx(115)
    assert out.stat("po_mN", "A").n == 3
    assert any("a1" in n and "left out" in n for n in out.notes)
