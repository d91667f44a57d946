"""What study exports say about groups and exclusions.

Blinded: no NWB file, file name or printed line names a group, the compound or the
dose (every string in every file is searched). Unblinded: each exported subject and
session carries its real group beside the code the operators saw, and the dosed group
its compound and dose as the study file gives them. An excluded animal's numbers enter
no group statistic and no analysed-data export (report CSV/XLSX, compare, NWB study and
folder export); where it is listed it is marked excluded with the reason.

Sessions are short synthetic recordings carrying the metadata the run hook
(``run --study``) gives them; the excluded animal's force is ten times the others', so
any of its numbers in a group statistic would show."""
from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pynwb")

from app.cli.main import main  # noqa: E402
from app.errors import UserError  # noqa: E402
from app.metadata import SessionMetadata  # noqa: E402
from app.study import load_study  # noqa: E402
from app.study.animals import validate_animal  # noqa: E402
from app.study.operations import add_animals, exclude, init_study, randomise, unblind  # noqa: E402
from app.study.run_link import study_session  # noqa: E402
from tests.helpers_nwb import nwb_strings as _strings, nwb_texts as _nwb  # noqa: E402
from tests.helpers_recording import write_synthetic_session  # noqa: E402

GROUPS = ("ctrl-x", "dosed-y")           # names no other text in a file could contain
COMPOUND = "aspartate"
ANIMALS = [f"R0{i}" for i in range(1, 7)]
EXCLUDED, REASON = "R06", "the tendon tie slipped during the fatigue run"


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _record(root: Path, animal: str, amplitude: float) -> Path:
    """A session as 'myoforce run --study' files it (metadata from the run hook)."""
    link = study_session(root, animal, "terminal")
    link.out.parent.mkdir(parents=True, exist_ok=True)
    write_synthetic_session(link.out, twitch_times_s=(0.1, 0.4), tetanus_start_s=0.8,
                            tail_s=0.3, amplitude_mN=amplitude,
                            metadata=SessionMetadata(**link.metadata))
    return link.out


@pytest.fixture
def study(tmp_path) -> Path:
    """Six rats, block-randomised (blinded), one session each; R06 excluded afterwards."""
    s = init_study(tmp_path / "st", "Mg and EDL function", ["terminal"])
    toml = s.root / "study.toml"
    toml.write_text(toml.read_text()
                    .replace('groups = ["vehicle", "treatment"]', f'groups = {list(GROUPS)!r}'
                             .replace("'", '"'))
                    .replace('group = "treatment"', f'group = "{GROUPS[1]}"')
                    .replace("effects = { treatment = 1.15 }", "effects = {}"))
    add_animals(s, [validate_animal({"id": a, "sex": "male", "date_of_birth": "2026-08-01",
                                     "body_mass": [{"date": "2026-10-01", "g": 300}]}, "t")
                    for a in ANIMALS])
    randomise(load_study(s.root), seed=5)
    for i, a in enumerate(ANIMALS):
        _record(s.root, a, 1000.0 if a == EXCLUDED else 80.0 + 5 * i)
    exclude(load_study(s.root), EXCLUDED, REASON)
    return s.root


def _codes(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    codes = tomllib.loads((root / "allocation.toml").read_text())["codes"]
    key = tomllib.loads((root / "allocation-key.toml").read_text())["key"]
    return codes, {a: key[c] for a, c in codes.items()}


# ------------------------------------------------------------------- blinding
def test_a_blinded_export_names_no_group_compound_or_dose_anywhere(study, tmp_path, capsys):
    code, out, err = _cli(capsys, "export", str(study), "--nwb", str(tmp_path / "nwb"),
                          "--json", "--include-excluded")
    assert code == 0, err
    files = sorted((tmp_path / "nwb").rglob("*.nwb"))
    assert [f.stem for f in files] == ANIMALS
    codes, _ = _codes(study)
    for f in files:
        everything = _strings(f) + f.as_posix()
        for word in (*GROUPS, COMPOUND, "mg/kg/day", "blinded code"):
            assert word not in everything, f"{f.name} says {word!r} while blinded"
        d = _nwb(f)
        assert f"group: group {codes[f.stem]}" in d["subject"]
        assert f"group 'group {codes[f.stem]}'" in d["experiment"]
    for word in (*GROUPS, COMPOUND):
        assert word not in out + err


def test_a_blinded_session_whose_metadata_names_a_group_is_refused(study, tmp_path, capsys):
    _, real = _codes(study)
    bad = study / "sessions" / "terminal" / "R01-2.h5"
    write_synthetic_session(bad, twitch_times_s=(0.1,), tetanus_start_s=None, tail_s=0.2,
                            metadata=SessionMetadata(subject_id="R01", group=real["R01"]))
    code, out, err = _cli(capsys, "export", str(study), "--nwb", str(tmp_path / "nwb"))
    assert code == 1 and err.count("R01-2.h5") == 1 and "unblind" in err
    assert real["R01"] not in err                     # the refusal does not name it either
    assert not (tmp_path / "nwb" / "sessions" / "terminal" / "R01-2.nwb").exists()
    assert (tmp_path / "nwb" / "sessions" / "terminal" / "R01.nwb").exists()   # others go on


def test_an_unblinded_export_carries_the_real_group_beside_the_code(study, tmp_path, capsys):
    from app.importers import load_recording
    from app.nwb.reader import nwb_info
    unblind(load_study(study), "analysis locked")
    code, _, err = _cli(capsys, "export", str(study), "--nwb", str(tmp_path / "nwb"))
    assert code == 0, err
    codes, real = _codes(study)
    made = sorted((tmp_path / "nwb").rglob("*.nwb"))
    assert [f.stem for f in made] == ANIMALS[:-1]
    for f in made:
        a, d = f.stem, _nwb(f)
        assert f"group: {real[a]}; blinded code: group {codes[a]}" in d["subject"]
        assert f"group '{real[a]}' (blinded code 'group {codes[a]}')" in d["experiment"]
        if real[a] == GROUPS[1]:
            assert d["pharmacology"].startswith("magnesium L-aspartate dihydrate 50 "
                                                "mg/kg/day as elemental Mg, oral gavage, "
                                                "for 28 days")
            assert "compound: magnesium L-aspartate dihydrate" in d["subject"]
        else:
            assert COMPOUND not in _strings(f) and "mg/kg" not in d["pharmacology"]
            assert d["pharmacology"] == "vehicle: 0.9 % saline"
        md = load_recording(f).metadata                # read back: the study's group
        assert md["group"] == real[a] and md["blinded_code"] == f"group {codes[a]}"
        assert nwb_info(f)["metadata"]["group"] == f"group {codes[a]}"    # as recorded


# ------------------------------------------------------------------ exclusions
def test_an_excluded_animal_is_left_out_of_nwb_exports_or_marked(study, tmp_path, capsys):
    code, out, err = _cli(capsys, "export", str(study), "--nwb", str(tmp_path / "a"), "--json")
    assert code == 0, err
    assert not list((tmp_path / "a").rglob(f"{EXCLUDED}.nwb"))
    assert err.count("\n") == 1 and f"{EXCLUDED}.h5" in err and REASON in err
    rows = {Path(r["source"]).stem: r for r in map(json.loads, out.splitlines())}
    assert sorted(rows) == ANIMALS and rows[EXCLUDED]["output"] is None
    assert REASON in rows[EXCLUDED]["left_out"] and rows["R01"]["output"].endswith("R01.nwb")
    # a plain folder (the study's sessions/) and a single file: the same rule
    code, _, err = _cli(capsys, "export", str(study / "sessions"), "--nwb", str(tmp_path / "b"))
    assert code == 0 and REASON in err and not list((tmp_path / "b").rglob(f"{EXCLUDED}.nwb"))
    single = study / "sessions" / "terminal" / f"{EXCLUDED}.h5"
    code, _, err = _cli(capsys, "export", str(single), "--nwb", str(tmp_path / "c.nwb"))
    assert code == 1 and err.count("\n") == 1 and REASON in err
    assert not (tmp_path / "c.nwb").exists()
    # on request: exported, and marked wherever a reader looks
    code, out, err = _cli(capsys, "export", str(single), "--nwb", str(tmp_path / "c.nwb"),
                          "--include-excluded")
    assert code == 0, err
    d = _nwb(tmp_path / "c.nwb")
    for field in ("subject", "session", "notes"):
        assert "excluded" in d[field].lower() and REASON in d[field], field
    assert d["session"].startswith("EXCLUDED")
    from app.importers import load_recording
    assert REASON in load_recording(tmp_path / "c.nwb").metadata["excluded"]


def test_compare_leaves_excluded_animals_out_of_group_statistics(study, tmp_path, capsys):
    sessions = sorted(str(p) for p in (study / "sessions").rglob("*.h5"))
    code, out, err = _cli(capsys, "compare", *sessions, "--json", "--no-cache")
    assert code == 0, err
    comp = json.loads(out)
    members = {a for g in comp["members"].values() for a in g}
    assert members == set(ANIMALS) - {EXCLUDED}
    assert f"{EXCLUDED}.h5" in err and REASON in err and "left out" in err
    # an NWB file exported marked as excluded is left out the same way
    _cli(capsys, "export", sessions[-1], "--nwb", str(tmp_path / "x.nwb"), "--include-excluded")
    _cli(capsys, "export", *sessions[:-1], "--nwb", str(tmp_path / "nwb"))
    nwbs = sorted(str(p) for p in (tmp_path / "nwb").glob("*.nwb")) + [str(tmp_path / "x.nwb")]
    code, out, err = _cli(capsys, "compare", *nwbs, "--json", "--no-cache")
    assert code == 0, err
    assert {a for g in json.loads(out)["members"].values() for a in g} == members
    assert "x.nwb" in err and REASON in err


def test_report_exports_hold_no_number_of_an_excluded_animal(study, tmp_path, capsys):
    from openpyxl import load_workbook

    from app.analysis.session import analyze_recording
    from app.importers import load_recording
    unblind(load_study(study), "analysis locked")
    report = tmp_path / "r" / "report.html"
    report.parent.mkdir()
    code, out, err = _cli(capsys, "study", "report", str(study), "--out", str(report),
                          "--no-cache")
    assert code == 0, err
    _, real = _codes(study)
    po = {a: analyze_recording(load_recording(study / "sessions" / "terminal" / f"{a}.h5")
                               ).summary["po_mN"] for a in ANIMALS}
    rows = list(csv.DictReader(open(report.with_name("report-animals.csv"))))
    assert sorted(r["animal"] for r in rows) == ANIMALS[:-1]
    contractions = list(csv.DictReader(open(report.with_name("report-contractions.csv"))))
    assert contractions and EXCLUDED not in {r["animal"] for r in contractions}
    wb = load_workbook(report.with_suffix(".xlsx"))
    head, *body = list(wb["groups"].values)
    for g in GROUPS:
        kept = [po[a] for a in ANIMALS if real[a] == g and a != EXCLUDED]
        row = next(dict(zip(head, v)) for v in body if v[head.index("kind")] == "summary"
                   and v[head.index("parameter")] == "po_mN" and v[head.index("group")] == g)
        assert row["n"] == len(kept) and row["mean"] == pytest.approx(np.mean(kept))
    for sheet in ("animals", "contractions", "changes"):
        assert EXCLUDED not in json.dumps(list(wb[sheet].values), default=str), sheet
    head, *body = list(wb["excluded"].values)
    listed = [dict(zip(head, v)) for v in body]
    assert listed == [{"animal": EXCLUDED, "group": real[EXCLUDED], "reason": REASON,
                       "excluded_utc": listed[0]["excluded_utc"], "sessions_left_out": 1}]
    html = report.read_text()
    assert f"left out, animal {EXCLUDED} excluded" in html and REASON in html
    assert REASON in out                                   # the printed problems too


def test_an_excluded_animal_listed_in_an_export_is_marked_with_its_reason(study):
    from app.study.membership import StudyLookup
    look = StudyLookup()
    path = study / "sessions" / "terminal" / f"{EXCLUDED}.h5"
    assert REASON in look.exclusion(path) and look.exclusion(path.with_name("R01.h5")) is None
    assert look.exclusion(Path("elsewhere.h5")) is None
    (study / "study.toml").write_text("title = \n")          # a broken study is never skipped
    with pytest.raises(UserError, match="study.toml"):
        StudyLookup().exclusion(path)


@pytest.mark.gui
def test_the_gui_export_of_an_excluded_animal_is_marked(study, tmp_path):
    """File → Export NWB… of one session: the study's facts and the exclusion mark, as on
    the command line (the operator chose this session by hand)."""
    from types import SimpleNamespace

    from app.analysis.config import AnalysisConfig
    from app.gui.nwb_export import export_view
    path = study / "sessions" / "terminal" / f"{EXCLUDED}.h5"
    view = SimpleNamespace(path=str(path), recording=SimpleNamespace(format="myoforce-h5"),
                           analysis_form=SimpleNamespace(config=AnalysisConfig))
    said: list[tuple[str, str]] = []
    assert export_view(view, tmp_path / "x.nwb", lambda t, x: said.append((t, x)),
                       background=False)
    assert said[0][0] == "NWB file written" and REASON in said[0][1]
    d = _nwb(tmp_path / "x.nwb")
    assert d["session"].startswith("EXCLUDED") and REASON in d["subject"]
    assert "group: group " in d["subject"]            # blinded: the code, from the study


def test_analyze_marks_an_excluded_animals_numbers(study, tmp_path, capsys):
    """Per-file analysis still answers for an excluded animal, marked in every output."""
    files = [str(study / "sessions" / "terminal" / f"{a}.h5") for a in ("R01", EXCLUDED)]
    code, _, err = _cli(capsys, "analyze", *files, "--summary-csv", str(tmp_path / "s.csv"),
                        "--csv", str(tmp_path / "t.csv"))
    assert code == 0 and err.count("\n") == 1 and f"{EXCLUDED}.h5" in err and REASON in err
    for name in ("s.csv", "t.csv"):
        rows = list(csv.DictReader(open(tmp_path / name)))
        for r in rows:
            assert (REASON in r["excluded"]) == (r["subject_id"] == EXCLUDED), (name, r)
    code, out, _ = _cli(capsys, "analyze", *files, "--json")
    objs = {o["metadata"]["subject_id"]: o for o in map(json.loads, out.splitlines())}
    assert REASON in objs[EXCLUDED]["excluded"] and "excluded" not in objs["R01"]
