"""Excluding a trial from a session's numbers, with a reason, as appended audit rows
(app.recorder.exclusions, 'myoforce annotate --exclude-trial/--include-trial'): the
latest row per trial decides, refusals are one line and write nothing, raw data is
untouched, info and the loader see the exclusions."""
from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest

from app.errors import UserError
from app.recorder.exclusions import (EXCLUDED_KIND, INCLUDED_KIND, MAX_REASON_CHARS,
                                     read_exclusions, set_trial_exclusion)
from app.recorder.reader import load_recording
from tests.helpers_recording import open_recorder, ramp_blocks
from tests.synthetic import SessionSpec, session_recording, write_h5
from tests.helpers_cli import run_cli as run

#: trial 1 (the middle twitch) is made this much larger than the others: an artefact
ODD_TWITCH_SCALE = 1.5


def write_session(path, subject_id: str = "R1") -> None:
    """Three twitches (trial 1 scaled up, so leaving it out moves the mean) and three
    force-frequency tetani, with a trial table."""
    rec, _ = session_recording(SessionSpec(fs=2_000.0, twitches=3, ff_freqs=(10, 50, 150),
                                           noise_sd=0.05, with_trials=True))
    t = rec.trials[1]
    assert t.kind == "twitch"
    force = np.asarray(rec.force_mN, dtype=np.float64).copy()
    w = slice(t.start_sample, t.stop_sample)
    base = float(np.median(force[t.start_sample:t.first_stim_sample]))
    force[w] = base + (force[w] - base) * ODD_TWITCH_SCALE
    rec.force_mN = force
    write_h5(rec, path, subject_id=subject_id, muscle="EDL")


@pytest.fixture
def session(tmp_path):
    path = tmp_path / "s.h5"
    write_session(path)
    return path


def raw_digest(path) -> str:
    with h5py.File(path, "r") as f:
        h = hashlib.sha256()
        for name in ("force", "flags", "pulses"):
            h.update(np.asarray(f[name][:]).tobytes())
        for c in sorted(f["trials"]):
            h.update(repr(f["trials"][c][:].tolist()).encode())
        return h.hexdigest()


def test_exclude_then_include_as_audit_rows_raw_data_untouched(capsys, session):
    before = raw_digest(session)
    code, out, err = run(capsys, "annotate", session, "--exclude-trial", 1,
                         "--reason", "  animal moved  ")
    assert code == 0, err
    assert "trial 1 excluded" in out and "animal moved" in out
    assert raw_digest(session) == before
    rec = load_recording(session, lazy=False)
    assert list(rec.exclusions) == [1]
    assert rec.exclusions[1].reason == "animal moved" and rec.exclusions[1].source == "annotate"
    # the info text and JSON list it with the reason
    code, out, _ = run(capsys, "info", session)
    assert code == 0 and "excluded trial" in out and "1: animal moved" in out
    code, out, _ = run(capsys, "info", session, "--json")
    assert [(e["trial"], e["reason"]) for e in json.loads(out)["excluded_trials"]] == \
        [(1, "animal moved")]
    # excluding again replaces the reason; taking it back leaves none in force
    set_trial_exclusion(session, 1, True, "electrode slipped", source="review")
    assert read_exclusions(session)[1].reason == "electrode slipped"
    code, out, err = run(capsys, "annotate", session, "--include-trial", 1)
    assert code == 0, err and "included again" in out
    assert read_exclusions(session) == {}
    code, out, _ = run(capsys, "info", session, "--json")
    assert json.loads(out)["excluded_trials"] == []
    # the history stays in the file, in the order written
    with h5py.File(session, "r") as f:
        kinds = [k.decode() if isinstance(k, bytes) else k for k in f["audit"]["kind"][:]]
    assert [k for k in kinds if k in (EXCLUDED_KIND, INCLUDED_KIND)] == \
        [EXCLUDED_KIND, EXCLUDED_KIND, INCLUDED_KIND]
    assert raw_digest(session) == before


def test_the_core_function_returns_the_exclusions_in_force(session):
    now = set_trial_exclusion(session, 4, True, "tendon slipped", source="gui")
    assert list(now) == [4] and now[4].source == "gui"
    now = set_trial_exclusion(session, 0, True, "first twitch: electrode settling")
    assert list(now) == [0, 4]
    now = set_trial_exclusion(session, 4, False)
    assert list(now) == [0] and now[0].reason == "first twitch: electrode settling"


@pytest.mark.parametrize("argv, words", [
    (["--exclude-trial", "1"], "--exclude-trial needs --reason"),
    (["--exclude-trial", "1", "--reason", ""], "reason is empty"),
    (["--exclude-trial", "1", "--reason", "   "], "reason is empty"),
    (["--exclude-trial", "1", "--reason", "moved\nagain"], "reason must be one line"),
    (["--exclude-trial", "1", "--reason", "moved\x07"], "control character"),
    (["--exclude-trial", "1", "--reason", "x" * (MAX_REASON_CHARS + 1)],
     f"at most {MAX_REASON_CHARS}"),
    (["--exclude-trial", "99", "--reason", "moved"], "no trial 99 in this session"),
    (["--exclude-trial", "-1", "--reason", "moved"], "no trial -1"),
    (["--exclude-trial", "one", "--reason", "moved"], "invalid int value"),
    (["--include-trial", "2"], "trial 2 is not excluded"),
    (["--exclude-trial", "1", "--include-trial", "2", "--reason", "x"], "not both"),
    (["--reason", "moved"], "give --exclude-trial N with it"),
    (["muscle_mass_mg=150", "--exclude-trial", "1", "--reason", "moved"], "on its own"),
])
def test_bad_exclusions_are_one_line_and_write_nothing(capsys, session, argv, words):
    before = hashlib.sha256(session.read_bytes()).hexdigest()
    code, out, err = run(capsys, "annotate", session, *argv)
    assert code != 0 and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert hashlib.sha256(session.read_bytes()).hexdigest() == before


def test_a_trial_number_that_is_not_a_whole_number_is_refused(session):
    for bad in (1.0, "1", True, None):
        with pytest.raises(UserError, match="not a trial index"):
            set_trial_exclusion(session, bad, True, "moved")   # type: ignore[arg-type]
    assert read_exclusions(session) == {}


def test_a_file_still_being_recorded_is_refused(tmp_path):
    path = tmp_path / "open.h5"
    rec = open_recorder(path, 1_000.0)
    try:
        for b in ramp_blocks(1000, 100, 1_000.0):
            rec.put_block(b)
        with pytest.raises(UserError, match="still being recorded"):
            set_trial_exclusion(path, 0, True, "moved")
    finally:
        rec.close()
    assert read_exclusions(path) == {}


def test_a_csv_recording_is_refused_in_one_line(capsys, tmp_path):
    from tests.synthetic import write_csv
    rec, _ = session_recording(SessionSpec(fs=2_000.0, twitches=1, ff_freqs=(50,),
                                           noise_sd=0.05))
    path = tmp_path / "s.csv"
    write_csv(rec, path)
    code, out, err = run(capsys, "annotate", path, "--exclude-trial", 0, "--reason", "moved")
    assert code != 0 and ".h5 sessions only" in err and len(err.strip().splitlines()) == 1


def test_check_excludable_says_what_set_trial_exclusion_would_refuse(session, tmp_path):
    """The rule a program asks before offering the action (the GUI's replay): the same
    one line set_trial_exclusion refuses with, for a CSV and a file still recorded."""
    from app.recorder.exclusions import check_excludable
    from tests.synthetic import write_csv
    check_excludable(session)                                  # a finished .h5: fine
    rec, _ = session_recording(SessionSpec(fs=2_000.0, twitches=1, ff_freqs=(50,)))
    csv_path = tmp_path / "s.csv"
    write_csv(rec, csv_path)
    live = tmp_path / "open.h5"
    writer = open_recorder(live, 1_000.0)
    try:
        for b in ramp_blocks(1000, 100, 1_000.0):
            writer.put_block(b)
        for path, words in ((csv_path, ".h5 sessions only"), (live, "still being recorded")):
            with pytest.raises(UserError, match=words) as asked:
                check_excludable(path)
            with pytest.raises(UserError) as refused:
                set_trial_exclusion(path, 0, True, "moved")
            assert str(asked.value) == str(refused.value)
    finally:
        writer.close()


# ------------------------------------------------------------------ analysis
def analyzed(path):
    from app.analysis import AnalysisConfig, analyze_recording
    rec = load_recording(path, lazy=False)
    return analyze_recording(rec, AnalysisConfig())


def test_an_excluded_twitch_is_measured_flagged_and_left_out_of_pt(session):
    before = analyzed(session)
    peaks = {t.index: t.peak_force_mN for t in before.trials if t.kind == "twitch"}
    assert before.summary.pt_trials == [0, 1, 2]
    assert before.summary.pt_mN == pytest.approx(np.mean(list(peaks.values())), rel=1e-9)
    assert peaks[1] > 1.3 * peaks[0]               # the odd twitch pulls the mean up

    set_trial_exclusion(session, 1, True, "animal moved")
    after = analyzed(session)
    s = after.summary
    assert s.pt_trials == [0, 2] and s.pt_n == 2
    assert s.pt_mN == pytest.approx((peaks[0] + peaks[2]) / 2, rel=1e-9)
    t1 = next(t for t in after.trials if t.index == 1)
    assert t1.ok and t1.peak_force_mN == pytest.approx(peaks[1], rel=1e-9)   # still measured
    assert t1.flag_codes == ["excluded"] and "animal moved" in t1.flags[0].text
    assert not t1.in_session
    assert s.excluded_trials == [{"trial": 1, "kind": "twitch", "reason": "animal moved",
                                  "source": "annotate",
                                  "time_utc": read_exclusions(session)[1].time_utc}]
    assert any("trial 1" in n and "animal moved" in n for n in s.notes)
    # every other session number is the same without the twitch
    assert s.po_mN == before.summary.po_mN and s.po_trial == before.summary.po_trial

    set_trial_exclusion(session, 1, False)          # taken back: the numbers come back
    again = analyzed(session)
    assert again.summary.pt_trials == [0, 1, 2]
    assert again.summary.pt_mN == pytest.approx(before.summary.pt_mN, rel=1e-12)
    assert again.summary.excluded_trials == []
    assert all("excluded" not in t.flag_codes for t in again.trials)


def test_an_excluded_po_tetanus_gives_po_from_the_next_largest(session):
    before = analyzed(session)
    top = before.summary.po_trial
    tetani = {t.index: t.peak_force_mN for t in before.trials if t.kind == "tetanus"}
    set_trial_exclusion(session, top, True, "electrode slipped")
    s = analyzed(session).summary
    rest = {i: f for i, f in tetani.items() if i != top}
    assert s.po_trial == max(rest, key=rest.get)
    assert s.po_mN == pytest.approx(max(rest.values()), rel=1e-9)
    assert s.pt_po_ratio == pytest.approx(s.pt_mN / s.po_mN, rel=1e-9)
    ff = s.force_frequency or {}
    assert len(ff["force_mN"]) == len(before.summary.force_frequency["force_mN"]) - 1


def test_analyze_json_and_csv_show_the_exclusion(capsys, session, tmp_path):
    import csv
    set_trial_exclusion(session, 2, True, "artefact at 40 ms")
    trials_csv, summary_csv = tmp_path / "t.csv", tmp_path / "s.csv"
    code, out, err = run(capsys, "analyze", session, "--json", "--no-cache",
                         "--csv", trials_csv, "--summary-csv", summary_csv)
    assert code == 0, err
    d = json.loads(out)
    t2 = next(t for t in d["trials"] if t["index"] == 2)
    assert {"code": "excluded", "text": t2["flags"][0]["text"]} in t2["flags"]
    assert "artefact at 40 ms" in t2["flags"][0]["text"] and t2["peak_force_mN"] > 0
    assert [e["trial"] for e in d["summary"]["excluded_trials"]] == [2]
    assert 2 not in d["summary"]["pt_trials"]
    rows = {int(r["index"]): r for r in csv.DictReader(open(trials_csv, encoding="utf-8"))}
    assert rows[2]["flags"] == "excluded" and "artefact at 40 ms" in rows[2]["flag_texts"]
    assert rows[0]["flags"] == ""
    (srow,) = list(csv.DictReader(open(summary_csv, encoding="utf-8")))
    assert srow["excluded_trials"] == "2"
    code, out, err = run(capsys, "analyze", session, "--no-cache")
    assert code == 0 and "excluded" in out and "artefact at 40 ms" in out


def test_an_exclusion_naming_a_trial_the_analysis_lacks_is_noted(session):
    from app.analysis import AnalysisConfig, analyze_recording
    from app.recorder.exclusions import TrialExclusion
    rec = load_recording(session, lazy=False)
    rec.exclusions = {42: TrialExclusion(42, "moved", "2026-01-01T00:00:00Z", "annotate")}
    res = analyze_recording(rec, AnalysisConfig())
    assert res.summary.excluded_trials == []
    assert any("trial 42" in n and "not applied" in n for n in res.summary.notes)


# ------------------------------------------------------------------ NWB export
def test_the_nwb_trials_table_carries_the_exclusion(session, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    nwbinspector = pytest.importorskip("nwbinspector")
    from app.nwb.export import export_session
    from app.nwb.reader import load_nwb
    set_trial_exclusion(session, 1, True, "animal moved")
    out = tmp_path / "s.nwb"
    export_session(session, out)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        df = io.read().trials.to_dataframe()
    assert df["excluded"].tolist() == [i == 1 for i in df.index]
    assert df["exclusion_reason"].tolist() == ["animal moved" if i == 1 else "" for i in df.index]
    assert "excluded" in df.loc[1, "flags_code"] and df.loc[1, "peak_force_mN"] > 0
    # nwbinspector has nothing to say about the two columns (all-NaN columns of the
    # synthetic recording, e.g. current_mA, are its own business)
    findings = [f.message for f in nwbinspector.inspect_nwbfile(nwbfile_path=str(out))]
    assert findings and not [m for m in findings if "exclu" in m], findings
    # info of the .nwb lists it as info of the session does
    from app.cli.commands.info import file_info
    assert [(e["trial"], e["reason"]) for e in file_info(str(out))["excluded_trials"]] == \
        [(1, "animal moved")]
    # replay/analyze of the .nwb see the same exclusion and the same session Pt
    rec = load_nwb(out, lazy=False)
    assert {i: e.reason for i, e in rec.exclusions.items()} == {1: "animal moved"}
    from app.analysis import AnalysisConfig, analyze_recording
    assert analyze_recording(rec, AnalysisConfig()).summary.pt_trials == \
        analyzed(session).summary.pt_trials == [0, 2]


def test_a_session_without_exclusions_exports_the_columns_empty(session, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    nwbinspector = pytest.importorskip("nwbinspector")
    from app.nwb.export import export_session
    out = tmp_path / "s.nwb"
    export_session(session, out)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        df = io.read().trials.to_dataframe()
    assert not df["excluded"].any() and set(df["exclusion_reason"]) == {""}
    findings = [f.message for f in nwbinspector.inspect_nwbfile(nwbfile_path=str(out))]
    assert not [m for m in findings if "exclu" in m], findings


# ------------------------------------------------------------------ result cache
def test_the_result_cache_never_serves_results_from_before_an_exclusion(session, tmp_path,
                                                                        monkeypatch):
    """The key hashes the file's content, remembered per file state: an appended audit
    row changes both, so the next analysis is fresh (also with the digest memo on)."""
    import app.result_cache as rc
    from app.analysis import AnalysisConfig
    from app.batch import analyze_many
    monkeypatch.setattr(rc, "SETTLE_S", 0.0)           # remember digests at once
    cache, cfg = rc.ResultCache(tmp_path / "cache"), AnalysisConfig()

    def pt_trials():
        (o,) = list(analyze_many([session], cfg, jobs=1, cache=cache))
        assert o.error is None
        return o.cached, o.result.summary["pt_trials"]

    assert pt_trials() == (False, [0, 1, 2])
    assert pt_trials() == (True, [0, 1, 2])
    set_trial_exclusion(session, 1, True, "animal moved")
    assert pt_trials() == (False, [0, 2])
    assert pt_trials() == (True, [0, 2])
    set_trial_exclusion(session, 1, False)
    assert pt_trials() == (False, [0, 1, 2])


# ------------------------------------------------------------------ study report
def test_the_study_report_leaves_the_trial_out_and_lists_it(tmp_path):
    from app.study import load_study
    from app.study.animals import validate_animal
    from app.study.operations import add_animals, init_study, randomise
    from app.study.report import build_report
    s = init_study(tmp_path / "study", "exclusion study", ["baseline"])
    add_animals(s, [validate_animal({"id": f"R{i:02d}", "sex": "male",
                                     "body_mass": [{"date": "2026-10-01", "g": 300}]}, "t")
                    for i in (1, 2)])
    randomise(load_study(s.root), seed=1)
    folder = s.root / "sessions" / "baseline"
    folder.mkdir(parents=True, exist_ok=True)
    write_session(folder / "R01.h5", subject_id="R01")
    set_trial_exclusion(folder / "R01.h5", 1, True, "electrode slipped")
    out = build_report(load_study(s.root), tmp_path / "report.html", use_cache=False)
    (ref, res), = out.results.sessions
    assert res.summary.pt_trials == [0, 2]
    html = out.html.read_text(encoding="utf-8")
    assert "R01.h5: trial 1 (twitch) excluded: electrode slipped" in html


def test_a_file_this_process_holds_open_is_refused_until_closed(session):
    """A replay keeps its lazy Recording open; the core refuses in one line, and works
    once the Recording is closed (what the GUI does before excluding)."""
    rec = load_recording(session)                       # lazy: the file stays open
    with pytest.raises(UserError, match="cannot open for writing") as info:
        set_trial_exclusion(session, 1, True, "animal moved")
    assert "\n" not in str(info.value)
    rec.force_mN.file.close()
    assert list(set_trial_exclusion(session, 1, True, "animal moved")) == [1]
