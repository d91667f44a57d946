"""The analyze, compare and plot commands end to end (files in, stdout/stderr/files out)."""
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import make_fixtures as mf
from tests.synthetic import SessionSpec, session_recording, write_csv
from tests.helpers_cli import run_cli as run

FIX = Path(mf.__file__).parent


def test_json_one_object_per_file_and_failures_reported(capsys, tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("time_s,force\n0,1\n")
    files = [FIX / "dmc_twitch.ddf", bad, FIX / "twitch.csv"]
    code, out, err = run(capsys, "analyze", "--json", *files)
    lines = out.strip().splitlines()
    assert code == 1 and len(lines) == 3
    objs = [json.loads(l) for l in lines]                    # strict JSON: no NaN tokens
    assert "NaN" not in out
    assert [o["file"] for o in objs] == [str(f) for f in files]
    assert set(objs[0]) == {"file", "format", "metadata", "trials", "summary"}
    assert objs[0]["summary"]["pt_mN"] == pytest.approx(mf.SPECS["dmc_twitch.ddf"]["pt_mN"],
                                                        rel=0.01)
    assert objs[0]["trials"][0]["frequency_hz"] is None      # NaN -> null
    assert "missing column" in objs[1]["summary"]["error"]
    assert objs[2]["metadata"]["group"] == "vehicle"
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 1 and str(bad) in err_lines[0] and "missing column" in err_lines[0]


def test_human_table_and_csv_outputs(capsys, tmp_path):
    trials_csv, summary_csv = tmp_path / "t.csv", tmp_path / "s.csv"
    code, out, err = run(capsys, "analyze", FIX / "dmc_tetanus.ddf", FIX / "dmc_twitch.ddf",
                         "--csv", trials_csv, "--summary-csv", summary_csv)
    assert code == 0 and err == ""
    assert "Stimulus-Tetan" in out and "summary\n  Pt " in out and "Po 900" in out
    rows = list(csv.DictReader(trials_csv.open()))
    assert [r["kind"] for r in rows] == ["tetanus", "twitch"]
    assert float(rows[0]["peak_force_mN"]) == pytest.approx(900.0, rel=0.01)
    assert rows[1]["fusion_index"] == ""                     # NaN -> empty cell
    srows = list(csv.DictReader(summary_csv.open()))
    assert float(srows[1]["pt_mN"]) == pytest.approx(150.0, rel=0.01)


def test_analysis_options_reach_the_analysis(capsys):
    code, out, _ = run(capsys, "analyze", "--json", FIX / "dmc_twitch.ddf")
    half50 = json.loads(out)["trials"][0]["half_relaxation_ms"]
    code, out, _ = run(capsys, "analyze", "--json", "--relaxation-percent", "25",
                       FIX / "dmc_twitch.ddf")
    half25 = json.loads(out)["trials"][0]["half_relaxation_ms"]
    assert code == 0 and half25 > half50 > 0


def test_invalid_option_is_one_line(capsys):
    code, out, err = run(capsys, "analyze", "--relaxation-percent", "150", FIX / "twitch.csv")
    assert code == 1 and err.count("\n") == 1 and "relaxation_percent" in err


def test_file_without_stimulus_fails_cleanly(capsys, tmp_path):
    p = tmp_path / "nostim.csv"
    t = np.arange(500) / 1000
    p.write_text("time_s,force_mN,stim\n" + "".join(f"{x:.3f},1.0,0\n" for x in t))
    code, out, err = run(capsys, "analyze", p, FIX / "twitch.csv")
    assert code == 1 and "no stimulus" in err and "summary\n  Pt 120" in out


def make_group_files(tmp_path, n_per_group=3):
    """Sessions whose Pt and f50 differ between groups by construction."""
    files = []
    for group, scale, f50 in (("vehicle", 1.0, 40.0), ("Mg", 1.3, 55.0)):
        for i in range(n_per_group):
            spec = SessionSpec(fs=2_000.0, twitches=1, ff_freqs=(10, 25, 50, 100, 150),
                               fmin=80 * scale * (1 + 0.03 * i), fmax=900 * scale,
                               f50=f50 + i, hill=3.0, noise_sd=0.05, seed=i)
            rec, _ = session_recording(spec)
            path = tmp_path / f"{group}_{i}.csv"
            write_csv(rec, path, group=group, muscle="EDL", muscle_mass_mg=150 + i,
                      muscle_length_mm=35.0, subject_id=f"{group}{i}", species="rat")
            files.append(path)
    return files


def test_compare_by_group(capsys, tmp_path):
    files = make_group_files(tmp_path)
    out_csv, png = tmp_path / "cmp.csv", tmp_path / "ff.png"
    code, out, err = run(capsys, "compare", *files, "--by", "group", "--csv", out_csv,
                         "--plot", png)
    assert code == 0, err
    assert "vehicle (N=3)" in out and "Mg (N=3)" in out and "Welch" in out
    assert png.stat().st_size > 1000
    rows = list(csv.DictReader(out_csv.open()))
    f50 = {r["group"]: float(r["mean"]) for r in rows
           if r["kind"] == "summary" and r["parameter"] == "f50_hz"}
    # f50 = where the curve reaches 50 % of Fmax (not the sigmoid midpoint 40+i / 55+i)
    from app.analysis.force_frequency import half_max_frequency
    for group, scale, mid in (("vehicle", 1.0, 40.0), ("Mg", 1.3, 55.0)):
        want = np.mean([half_max_frequency(80 * scale * (1 + 0.03 * i), 900 * scale, mid + i, 3.0)
                        for i in range(3)])
        assert f50[group] == pytest.approx(want, rel=0.05)
    test = next(r for r in rows if r["kind"] == "test" and r["parameter"] == "po_mN")
    assert float(test["p_welch"]) < 0.01                      # Po differs by 30 %
    sf = [r for r in rows if r["kind"] == "summary" and r["parameter"] ==
          "specific_force_N_per_cm2"]
    assert all(int(r["n"]) == 3 for r in sf)
    assert any(r["kind"] == "force_frequency" and r["frequency_hz"] == "50" for r in rows)


def test_compare_tables_fit_80_columns_and_cut_no_number(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    files = make_group_files(tmp_path)
    code, out, err = run(capsys, "compare", *files, "--by", "group", "--no-cache")
    assert code == 0, err
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80
    assert "…" not in out                                   # no number or interval cut
    est = next(line for line in out.splitlines() if line.startswith("│ Po (mN)") and "[" in line)
    assert est.count("[") == 2 and est.count("]") == 2       # difference and g, each with its CI


def test_compare_with_four_groups_splits_the_group_table_to_fit(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    files = make_group_files(tmp_path, n_per_group=4)
    names = ["dose-low", "dose-mid", "dose-high", "vehicle-only"]
    overrides = [a for i, f in enumerate(files) for a in ("--group", f"{f}={names[i % 4]}")]
    code, out, err = run(capsys, "compare", *files, *overrides, "--no-cache")
    assert code == 0, err
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80
    assert "…" not in out and out.count("by group, one value per animal") >= 2
    for name in names:
        assert f"{name} (N=2)" in out


def test_compare_group_overrides_and_missing_groups(capsys, tmp_path):
    files = make_group_files(tmp_path, n_per_group=2)
    nogroup = tmp_path / "nogroup.csv"
    nogroup.write_text(FIX.joinpath("twitch.csv").read_text().replace("# group: vehicle\n", ""))
    code, out, err = run(capsys, "compare", *files, nogroup, "--group",
                         f"{files[0]}=treated", "--group", f"{files[1].name}=treated")
    assert code == 1 and "nogroup.csv" in err and "--group" in err
    assert "treated (N=2)" in out and "Mg (N=2)" in out and "vehicle" not in out


def test_compare_bad_group_argument(capsys, tmp_path):
    code, _, err = run(capsys, "compare", FIX / "twitch.csv", "--group", "novalue")
    assert code == 1 and "FILE=NAME" in err


def test_plot_writes_pngs(capsys, tmp_path):
    spec = SessionSpec(fs=2_000.0, twitches=1, ff_freqs=(10, 25, 50, 100, 150),
                       fatigue_trains=5, noise_sd=0.1)
    rec, _ = session_recording(spec)
    src = tmp_path / "session.csv"
    write_csv(rec, src)
    out_dir = tmp_path / "figs"
    code, out, err = run(capsys, "plot", src, "--out", out_dir)
    assert code == 0, err
    names = sorted(p.name for p in out_dir.iterdir())
    assert "session_force_frequency.png" in names and "session_fatigue.png" in names
    assert sum(n.startswith("session_trial") for n in names) == 1 + 5 + 5
    for p in out_dir.iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(out.strip().splitlines()) == len(names)


def test_analyze_h5_session(capsys, tmp_path):
    pytest.importorskip("app.recorder.writer")
    from tests.synthetic import write_h5
    spec = SessionSpec(fs=2_000.0, twitches=2, ff_freqs=(10, 25, 50, 100, 150),
                       with_trials=True, noise_sd=0.1)
    rec, truth = session_recording(spec)
    path = tmp_path / "s.h5"
    write_h5(rec, path, group="vehicle", muscle="EDL")
    code, out, err = run(capsys, "analyze", "--json", path)
    assert code == 0, err
    s = json.loads(out)["summary"]
    assert s["po_mN"] == pytest.approx(truth["po"], rel=0.01)
    assert math.isfinite(s["f50_hz"])
