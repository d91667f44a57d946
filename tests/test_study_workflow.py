"""The whole study workflow on the simulated rig: init, animals, randomise (blinded),
sessions recorded with --study/--animal/--timepoint, exclusion, report and NWB export
(blinded: no group name anywhere), unblind, report and NWB export again; the report's tables checked against values
computed here, independently, from the session files. Small and fast: a short protocol,
5 animals, runs in parallel."""
import csv
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
from openpyxl import load_workbook
from scipy import stats

from app.analysis.session import analyze_recording
from app.cli.main import main
from app.importers import load_recording
from tests.helpers_nwb import nwb_strings, nwb_texts

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = """\
name: study test (short)
windows: {twitch_post_ms: 150, tetanus_post_ms: 120}
steps:
  - {kind: twitch, name: twitches, count: 2, interval_s: 0.25, current_mA: 4}
  - {kind: force_frequency, name: force-frequency, frequencies_hz: [10, 30, 50, 100, 150],
     duration_ms: 100, rest_s: 1.0, current_mA: 4}
  - {kind: twitch, name: recovery-twitch, count: 1, interval_s: 0.3, current_mA: 4}
"""
GROUPS = ("vehicle", "treatment")
OUTCOMES = ("pt_mN", "tpt_ms", "half_relaxation_ms", "po_mN", "pt_po_ratio", "f50_hz",
            "specific_force_N_per_cm2")


def _run_parallel(study, protocol, jobs):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen(
        [sys.executable, "-m", "app.cli.main", "run", str(protocol), "--sim", "--yes",
         "--study", str(study), "--animal", a, "--timepoint", tp, "--muscle-mass-mg", "150",
         "--muscle-length-mm", "32"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for a, tp in jobs]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    return "".join(o for o, _ in outs)


def _no_group_names(text: str, where: str):
    for g in GROUPS:
        assert g not in text.lower(), f"{where} names group {g!r} while blinded"


def _analysis(path: Path) -> dict:
    return analyze_recording(load_recording(path)).summary


def _check_tables(study: Path, stem: Path, group_of: dict[str, str]):
    """The report's exports against values computed here from the session files."""
    per_animal = {}
    for f in sorted((study / "sessions").rglob("*.h5")):
        animal, tp = f.stem, f.parent.name
        if animal == "R05":
            continue
        per_animal[(animal, tp)] = _analysis(f)
    rows = list(csv.DictReader(open(stem.with_name(stem.name + "-animals.csv"))))
    assert {(r["animal"], r["timepoint"]) for r in rows} == set(per_animal)
    for r in rows:
        s = per_animal[(r["animal"], r["timepoint"])]
        assert r["group"] == group_of[r["animal"]]
        for k in OUTCOMES:
            if math.isfinite(s[k]):
                assert float(r[k]) == pytest.approx(s[k], rel=1e-9), (r["animal"], k)
    wb = load_workbook(stem.with_suffix(".xlsx"))
    assert {"animals", "contractions", "groups"} <= set(wb.sheetnames)
    sheet = list(wb["groups"].values)
    head, body = sheet[0], [dict(zip(sheet[0], v)) for v in sheet[1:]]
    assert "p_welch_holm" in head
    for tp in ("baseline", "week-4"):
        by = {g: [per_animal[(a, tp)]["po_mN"] for (a, t) in per_animal
                  if t == tp and group_of[a] == g and math.isfinite(per_animal[(a, t)]["po_mN"])]
              for g in set(group_of.values())}
        for g, vals in by.items():
            row = next(b for b in body if b["kind"] == "summary" and b["timepoint"] == tp
                       and b["parameter"] == "po_mN" and b["group"] == g)
            assert row["n"] == len(vals) and row["mean"] == pytest.approx(np.mean(vals))
            if len(vals) > 1:
                assert row["sd"] == pytest.approx(np.std(vals, ddof=1))
        test = next(b for b in body if b["kind"] == "test" and b["timepoint"] == tp
                    and b["parameter"] == "po_mN")
        a, b = by[test["group"]], by[test["group_b"]]
        if len(a) > 1 and len(b) > 1:
            ref = stats.ttest_ind(b, a, equal_var=False)
            assert test["p_welch"] == pytest.approx(ref.pvalue, rel=1e-6)
            assert test["difference"] == pytest.approx(np.mean(b) - np.mean(a))
    changes = [dict(zip(wb["changes"].values.__next__(), v)) for v in
               list(wb["changes"].values)[1:]]
    for (animal, tp), s in per_animal.items():
        base = per_animal.get((animal, "baseline"), {}).get("po_mN", math.nan)
        if tp == "week-4" and math.isfinite(s["po_mN"]) and math.isfinite(base):
            row = next(c for c in changes if c["animal"] == animal and c["parameter"] == "po_mN")
            assert row["change"] == pytest.approx(s["po_mN"] - per_animal[(animal,
                                                                            "baseline")]["po_mN"])
            assert row["group"] == group_of[animal]
    contractions = list(csv.DictReader(open(stem.with_name(stem.name + "-contractions.csv"))))
    assert len(contractions) == 8 * len(per_animal)            # 2 + 5 + 1 per session
    return per_animal


def test_study_end_to_end_on_the_simulated_rig(tmp_path, capsys):
    study, protocol = tmp_path / "study", tmp_path / "short.yaml"
    protocol.write_text(PROTOCOL)
    assert main(["study", "init", str(study), "--title", "Mg and rat EDL function",
                 "--timepoints", "baseline,week-4"]) == 0
    toml = study / "study.toml"
    toml.write_text(toml.read_text().replace("effects = { treatment = 1.15 }",
                                             "effects = { treatment = 1.6 }")
                    .replace("animal_sd = 0.06", "animal_sd = 0.02"))
    (tmp_path / "a.csv").write_text("id,sex,date_of_birth,body_mass_g,arrival\n" + "".join(
        f"R0{i},male,2026-08-0{i},{290 + i},2026-10-01\n" for i in range(1, 6)))
    assert main(["study", "import", str(tmp_path / "a.csv"), "--study", str(study)]) == 0
    assert main(["study", "randomise", str(study), "--seed", "11"]) == 0
    out = capsys.readouterr().out
    _no_group_names(out, "randomise")
    codes = tomllib.loads((study / "allocation.toml").read_text())["codes"]
    assert sorted(codes.values()) .count("A") in (2, 3)
    assert main(["study", "exclude", "R05", "--reason", "nerve damaged at surgery",
                 "--study", str(study)]) == 0

    runs = _run_parallel(study, protocol, [(f"R0{i}", "baseline") for i in range(1, 5)]
                         + [(f"R0{i}", "week-4") for i in range(1, 4)])
    _no_group_names(runs, "run output")
    for f in (study / "sessions").rglob("*.h5"):
        with h5py.File(f, "r") as h:
            values = " ".join(str(v) for v in h["session"].attrs.values())
            _no_group_names(values, f"{f} metadata values")
            rig = " ".join(str(v) for v in h["rig"].attrs.values())
            assert "hidden while blinded" in rig, rig          # no treatment factor
    capsys.readouterr()
    assert main(["study", "status", str(study)]) == 0
    status = capsys.readouterr().out
    _no_group_names(status, "status")
    assert "missing" in status and "nerve damaged" in status

    # blinded report: codes only, everywhere
    report = tmp_path / "out" / "report.html"
    report.parent.mkdir()
    assert main(["study", "report", str(study), "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "R04 at week-4: no session recorded" in printed
    html = report.read_text()
    _no_group_names(html, "blinded report")
    for p in report.parent.iterdir():
        if p.suffix == ".csv":
            _no_group_names(p.read_text(), p.name)
    wb = load_workbook(report.with_suffix(".xlsx"))
    _no_group_names(json.dumps([list(ws.values) for ws in wb], default=str), "XLSX")
    assert "BLINDED" in html and "group A" in html and "nerve damaged at surgery" in html
    alts = re.findall(r'<img src="data:image/png;base64,[^"]*" alt="([^"]*)"', html)
    assert {"each animal over the group mean ± SD at baseline",
            "each animal over the group mean ± SD at week-4"} <= set(alts), alts
    assert any(a.startswith("force-frequency") for a in alts), alts
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")
    blinded_groups = {a: f"group {c}" for a, c in codes.items()}
    _check_tables(study, report.with_suffix(""), blinded_groups)

    # the second report reuses every analysis; a changed file is analysed again
    from app.study import load_study
    from app.study.results import study_results
    again = study_results(load_study(study)).stats
    assert (again.analysed, again.reused) == (0, 7)
    fresh = study_results(load_study(study), use_cache=False).stats
    assert (fresh.analysed, fresh.reused) == (7, 0)

    # the NWB export of the sessions the run hook recorded, blinded: the code only
    assert main(["export", str(study), "--nwb", str(tmp_path / "nwb-blinded")]) == 0
    blinded_nwb = sorted((tmp_path / "nwb-blinded").rglob("*.nwb"))
    assert len(blinded_nwb) == 7
    for f in blinded_nwb:
        assert f"group: group {codes[f.stem]}" in nwb_texts(f)["subject"]
        text = nwb_strings(f).lower()
        for g in GROUPS:
            assert f"group: {g}" not in text and f"group '{g}'" not in text, (f, g)
        assert "aspartate" not in text and "mg/kg/day" not in text, f

    # unblind: names appear, the hidden effect shows in the group that got it
    assert main(["study", "unblind", str(study), "--reason", "analysis locked", "--yes"]) == 0
    key = tomllib.loads((study / "allocation-key.toml").read_text())["key"]
    real = {a: key[c] for a, c in codes.items()}
    assert main(["export", str(study), "--nwb", str(tmp_path / "nwb")]) == 0
    for f in sorted((tmp_path / "nwb").rglob("*.nwb")):    # recorded blinded, exported real
        d = nwb_texts(f)
        assert f"group: {real[f.stem]}; blinded code: group {codes[f.stem]}" in d["subject"]
        assert ("magnesium L-aspartate dihydrate 50 mg/kg/day as elemental Mg"
                in d["pharmacology"]) == (real[f.stem] == "treatment")
    assert main(["study", "report", str(study), "--out", str(report)]) == 0
    html = report.read_text()
    assert "vehicle" in html and "treatment" in html and "analysis locked" in html
    per = _check_tables(study, report.with_suffix(""), real)
    po = {g: np.nanmean([s["po_mN"] for (a, tp), s in per.items()
                         if tp == "baseline" and real[a] == g]) for g in GROUPS}
    assert po["treatment"] > 1.3 * po["vehicle"]
    assert "Change from baseline" in html
