"""``myoforce analyze`` output that fits: 80 columns by default with the key measures and
units, every measure with --wide; CSV numbers rounded to what the measurement supports;
one unit for max dF/dt (mN/s) in CLI, GUI and CSV."""
from __future__ import annotations

import csv
import math
import re

import pytest

from app.cli.main import main
from app.precision import decimals_for, round_row, round_value
from tests.synthetic import SessionSpec, session_recording


@pytest.fixture(scope="module")
def session_file(tmp_path_factory):
    pytest.importorskip("app.recorder.writer")
    from tests.synthetic import write_h5
    spec = SessionSpec(fs=2_000.0, twitches=2, ff_freqs=(10, 25, 50, 100, 150),
                       with_trials=True, noise_sd=0.1)
    rec, truth = session_recording(spec)
    path = tmp_path_factory.mktemp("tbl") / "rat-with-a-rather-long-subject-name.h5"
    write_h5(rec, path, group="vehicle", muscle="EDL")
    return path, truth


def run(capsys, monkeypatch, columns, *argv):
    monkeypatch.setenv("COLUMNS", str(columns))
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_table_fits_80_columns_and_cuts_no_number(capsys, monkeypatch, session_file):
    path, truth = session_file
    code, out, err = run(capsys, monkeypatch, 80, "analyze", path, "--no-cache")
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    header = next(l for l in lines if "peak mN" in l)
    for unit in ("f Hz", "peak mN", "TPT ms", "½RT ms"):
        assert unit in header
    rows = [l for l in lines if re.match(r"\s*\d+\s+(twitch|tetanus)\s", l)]
    assert len(rows) == 2 + 5
    for row in rows:            # every number whole: peak, TPT, ½RT parse as floats
        nums = re.findall(r"(?<![\w.-])(\d+\.\d)(?![\w.])", row)
        assert len(nums) >= 3, row
    summary = out[out.index("summary"):]
    po = re.search(r"Po ([\d.]+) mN", summary).group(1)
    assert float(po) == pytest.approx(truth["po"], rel=0.01)
    for label in ("Pt ", "TPT ", "½RT ", "Pt/Po ", "f50 ", "fatigue index ", "specific force "):
        assert label in summary


def test_wide_shows_every_measure_in_mN_per_s(capsys, monkeypatch, session_file):
    path, _ = session_file
    code, out, err = run(capsys, monkeypatch, 80, "analyze", path, "--wide", "--no-cache")
    assert code == 0, err
    assert "+dF/dt mN/s" in out and "FTI mN·s" in out and "N/s" not in out.replace("mN/s", "")


def test_csv_numbers_are_rounded_to_what_the_measurement_supports(capsys, monkeypatch, session_file,
                                                                  tmp_path):
    path, _ = session_file
    out_csv, sum_csv = tmp_path / "t.csv", tmp_path / "s.csv"
    code, _, err = run(capsys, monkeypatch, 80, "analyze", path, "--csv", out_csv,
                       "--summary-csv", sum_csv, "--no-cache")
    assert code == 0, err
    for rows in (list(csv.DictReader(out_csv.open())), list(csv.DictReader(sum_csv.open()))):
        for row in rows:
            for key, text in row.items():
                if not re.fullmatch(r"-?\d+\.\d+", text or ""):
                    continue
                places = len(text.split(".")[1])
                want = decimals_for(key)
                assert places <= (want if want is not None else 6), (key, text)
    row = next(csv.DictReader(out_csv.open()))
    assert len(row["peak_force_mN"].split(".")[-1]) <= 2 and len(row["time_to_peak_ms"].split(".")[-1]) <= 2


def test_rounding_rules():
    assert round_value("peak_force_mN", 592.123456789) == 592.12
    assert round_value("time_to_peak_ms", 14.16666666) == 14.17
    assert round_value("max_dfdt_mN_per_s", 123456.789) == 123457
    assert round_value("pt_po_ratio", 0.2487654321) == 0.2488
    assert round_value("specific_force_N_per_cm2", 20.312345) == 20.312
    assert round_value("stim_time_s", 12.345678) == 12.3457
    assert round_value("index", 7) == 7 and round_value("kind", "twitch") == "twitch"
    assert math.isnan(round_value("peak_force_mN", float("nan")))
    assert round_value("something", 1.23456789) == 1.23457
    assert round_row({"a_mN": 1.005001, "b": None}) == {"a_mN": 1.01, "b": None}


def test_summary_lines_fit_whatever_the_numbers():
    from app.cli.analysis_table import summary_lines
    wide = {"pt_mN": 12345.6, "pt_sd_mN": 1234.5, "tpt_ms": 1234.5, "half_relaxation_ms": 1234.5,
            "po_mN": 123456.7, "pt_po_ratio": 0.123, "f50_hz": 123.4, "hill_slope": 12.3,
            "fatigue_index": 0.5, "specific_force_N_per_cm2": 123.45}
    lines = summary_lines(wide)
    assert all(len(l) <= 80 for l in lines)
    text = " ".join(lines)
    for part in ("Pt 12345.6 ± 1234.5 mN", "Po 123456.7 mN", "specific force 123.45 N/cm²"):
        assert part in text


def test_long_notes_wrap_under_their_label_not_to_column_0(capsys, monkeypatch, session_file):
    path, _ = session_file
    code, out, err = run(capsys, monkeypatch, 80, "analyze", path, "--no-cache")
    assert code == 0, err
    after = out[out.index("summary"):].splitlines()[1:]
    notes = [i for i, line in enumerate(after) if line.startswith("  note: ")]
    assert notes and any(len(after[i]) > 60 for i in notes)
    for line in after:
        assert not line or line.startswith("  "), line     # a continuation never at column 0
        assert len(line.rstrip()) <= 80


def test_a_flag_on_several_trials_is_explained_once_with_its_trials(capsys, monkeypatch,
                                                                    session_file):
    """Five flat tetani all carry tpt-ambiguous: one line names the rule and the trials
    (#2–#6), instead of five near-identical notes; --wide keeps each trial's numbers."""
    path, _ = session_file
    code, out, err = run(capsys, monkeypatch, 80, "analyze", path, "--no-cache")
    assert code == 0, err
    flagged = [int(m[1]) for m in re.finditer(r"^\s*(\d+)\s+tetanus .*tpt-ambiguous", out, re.M)]
    assert len(flagged) >= 3
    assert out.count("tpt-ambiguous on ") == 1
    assert not re.search(r"^\s+#\d+: the force averaged", out, re.M)
    from app.cli.analysis_table import trial_list
    assert f"tpt-ambiguous on {trial_list(flagged)}:" in out
    code, wide, err = run(capsys, monkeypatch, 250, "analyze", path, "--no-cache", "--wide")
    assert wide.count("the force averaged over one pulse interval") == len(flagged)


def test_trial_lists_collapse_consecutive_runs():
    from app.cli.analysis_table import trial_list
    assert trial_list([15, 17, 18, 19, 21]) == "#15, #17–#19, #21"
    assert trial_list([3]) == "#3"
    assert trial_list([5, 4]) == "#4–#5"
