"""The session summary names the tetanus Po comes from when that tetanus's peak is
flagged (docs/analysis.md §5): in the summary record, its JSON, the summary CSV and the
terminal output of ``analyze``."""
import csv
import json

import numpy as np
import pytest

from app.analysis import analyze_recording
from app.cli.main import main
from app.recording import Recording, Trial
from tests.synthetic import tetanus_force, write_csv

FS = 5_000.0


def tetani_session(drift_on_largest: bool, seed: int = 0) -> Recording:
    """Three tetani, 100 Hz (900 mN), 150 Hz (1000 mN), 100 Hz (905 mN); with
    ``drift_on_largest`` the 150 Hz one sits on a baseline rising 2 N/s."""
    rng = np.random.default_rng(seed)
    plan = [(100.0, 900.0), (150.0, 1000.0), (100.0, 905.0)]
    n = int(len(plan) * 2.0 * FS)
    force = 30.0 + rng.normal(0, 0.3, n)
    trials, stims = [], []
    for i, (freq, plateau) in enumerate(plan):
        s = int((0.5 + 2.0 * i) * FS)
        t = (np.arange(n) - s) / FS - 0.0025
        stim = s + np.round(np.arange(int(0.3 * freq)) * FS / freq).astype(np.int64)
        force += tetanus_force(t, plateau=plateau, ripple=0.0, freq=freq, train_s=0.3)
        if drift_on_largest and i == 1:
            ramp = np.clip((np.arange(n) - (s - int(0.3 * FS))) / FS, 0.0, 1.2)
            force += 2000.0 * ramp                     # mN/s, then holds
        stims.append(stim)
        trials.append(Trial(index=i, kind="tetanus", start_sample=s - int(0.05 * FS),
                            stop_sample=int(stim[-1]) + int(0.5 * FS), stim_samples=stim,
                            frequency_hz=freq, step="tetani"))
    return Recording("po", "synthetic", FS, force, np.concatenate(stims), trials=trials)


def test_flagged_po_tetanus_is_named_with_the_largest_clean_one():
    res = analyze_recording(tetani_session(drift_on_largest=True))
    s = res.summary
    assert "baseline-drift" in res.trials[1].flag_codes
    assert s.po_trial == 1 and s.po_mN == pytest.approx(1000.0, rel=0.02)
    assert "baseline-drift" in s.po_flags
    assert "trial 1" in s.po_flag_text and "baseline-drift" in s.po_flag_text
    # the value Po falls back to if the flagged tetanus is not trusted: trial 2, 905 mN
    assert "trial 2" in s.po_flag_text and "905" in s.po_flag_text
    assert s.po_flag_text in s.notes
    d = res.to_dict()["summary"]
    assert "baseline-drift" in d["po_flags"] and d["po_flag_text"] == s.po_flag_text


def test_clean_po_tetanus_has_no_po_flags():
    s = analyze_recording(tetani_session(drift_on_largest=False)).summary
    assert s.po_trial == 1 and s.po_flags == [] and s.po_flag_text == ""
    assert not any("Po " in n and "flagged" in n for n in s.notes)


def test_analyze_output_names_the_flagged_po_tetanus(capsys, tmp_path):
    path = tmp_path / "po.csv"
    write_csv(tetani_session(drift_on_largest=True), path)
    summary_csv = tmp_path / "s.csv"
    assert main(["analyze", str(path), "--summary-csv", str(summary_csv)]) == 0
    out = capsys.readouterr().out
    assert "⚑ trial 1" in out                      # on the summary line, beside Po
    assert "whose peak is flagged baseline-drift" in " ".join(out.split())
    row = next(csv.DictReader(summary_csv.open()))
    assert row["po_trial"] == "1" and "baseline-drift" in row["po_flags"].split(";")
    assert main(["analyze", "--json", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["po_trial"] == 1 and "baseline-drift" in summary["po_flags"]
