"""``myoforce export``: several sessions and folders, bad input in one line, no
overwriting without --overwrite, no half-written file after a failure, pynwb loaded only
by the NWB code paths, and the Subject mapping DANDI needs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pynwb")

from app.cli.main import main  # noqa: E402
from app.metadata import SessionMetadata  # noqa: E402
from app.nwb.subject import iso_age, nwb_sex, parse_idn, species_binomial  # noqa: E402
from tests.helpers_recording import write_synthetic_session  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SHORT = dict(twitch_times_s=(0.1,), tetanus_start_s=None, tail_s=0.2,
             metadata=SessionMetadata(subject_id="r1", sex="female", age_weeks=10.5,
                                      body_mass_g=250))


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _files(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()}


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    return write_synthetic_session(tmp_path_factory.mktemp("s") / "s1.h5", **SHORT).path


def test_several_sessions_and_a_folder_export_into_a_directory(tmp_path, capsys):
    sub = tmp_path / "study" / "day1"
    sub.mkdir(parents=True)
    write_synthetic_session(tmp_path / "study" / "a.h5", **SHORT)
    write_synthetic_session(sub / "b.h5", **SHORT)
    code, out, err = _cli(capsys, "export", str(tmp_path / "study"), "--nwb",
                          str(tmp_path / "nwb"))
    assert code == 0, err
    assert _files(tmp_path / "nwb") == {"a.nwb", "day1"} and out.count(" -> ") == 2
    assert _files(tmp_path / "nwb" / "day1") == {"b.nwb"}      # subfolders mirrored
    code, _, err = _cli(capsys, "export", str(tmp_path / "study" / "a.h5"),
                        str(sub / "b.h5"), "--nwb", str(tmp_path / "nwb"))
    assert code == 1 and err.count("\n") == 1 and "--overwrite" in err
    write_synthetic_session(tmp_path / "a.h5", **SHORT)          # same name, another folder
    code, _, err = _cli(capsys, "export", str(tmp_path / "a.h5"), str(tmp_path / "study" / "a.h5"),
                        "--nwb", str(tmp_path / "other"))
    assert code == 1 and "both export to" in err and not (tmp_path / "other").exists()


def test_several_sessions_into_a_name_ending_in_nwb_is_refused(tmp_path, capsys, session):
    """Before: a directory called 'both.nwb' was created and filled."""
    other = write_synthetic_session(tmp_path / "s2.h5", **SHORT).path
    code, _, err = _cli(capsys, "export", str(session), str(other), "--nwb",
                        str(tmp_path / "both.nwb"))
    assert code == 1 and err.count("\n") == 1 and "give a directory name" in err
    assert not (tmp_path / "both.nwb").exists()


def test_a_foreign_or_damaged_input_gets_one_line_and_no_output(tmp_path, capsys, session):
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(session.read_bytes()[:4000])
    text = tmp_path / "notes.h5"
    text.write_text("not a recording\n")
    for bad in (damaged, text, FIXTURES / "dmc_twitch.ddf", tmp_path / "missing.h5"):
        code, out, err = _cli(capsys, "export", str(bad), "--nwb", str(tmp_path / "o.nwb"))
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, (bad, err)
        assert str(bad.name) in err or "no such file" in err
        assert not (tmp_path / "o.nwb").exists()
    assert _files(tmp_path) == {"damaged.h5", "notes.h5"}        # no temporary file left


def test_an_nwb_file_from_other_software_is_refused_in_one_line(tmp_path, capsys):
    import h5py
    foreign = tmp_path / "other.nwb"
    with h5py.File(foreign, "w") as f:
        f.attrs["nwb_version"] = "2.7.0"
    code, _, err = _cli(capsys, "analyze", str(foreign))
    assert code == 1 and "other.nwb" in err and "NWB" in err and "Traceback" not in err


def test_outputs_never_overwrite_inputs_or_files_without_overwrite(tmp_path, capsys, session):
    out = tmp_path / "s1.nwb"
    out.write_bytes(b"precious")
    code, _, err = _cli(capsys, "export", str(session), "--nwb", str(out))
    assert code == 1 and "--overwrite" in err and out.read_bytes() == b"precious"
    code, _, err = _cli(capsys, "export", str(session), "--nwb", str(session))
    assert code == 1 and err.count("\n") == 1 and session.stat().st_size > 4000
    code, _, err = _cli(capsys, "export", str(session), "--nwb", str(tmp_path / "x.h5"))
    assert code == 1 and ".nwb" in err
    code, _, err = _cli(capsys, "export", str(session), "--nwb", str(out), "--overwrite")
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"


def test_a_failed_export_leaves_no_file_and_keeps_the_old_one(tmp_path, capsys, session,
                                                              monkeypatch):
    import pynwb

    def fail_after_writing(self, *args, **kwargs):
        written(self, *args, **kwargs)          # the whole file written, then the disk fails
        raise OSError(28, "No space left on device")
    written = pynwb.NWBHDF5IO.write
    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", fail_after_writing)
    code, _, err = _cli(capsys, "export", str(session), "--nwb", str(tmp_path / "new.nwb"))
    assert code == 1 and "No space left" in err and err.count("\n") == 1
    old = tmp_path / "old.nwb"
    old.write_bytes(b"the previous export")
    code, _, _ = _cli(capsys, "export", str(session), "--nwb", str(old), "--overwrite")
    assert code == 1 and old.read_bytes() == b"the previous export"
    assert _files(tmp_path) == {"old.nwb"}


def test_without_pynwb_export_says_how_to_install_it(tmp_path, capsys, session, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)
    code, _, err = _cli(capsys, "export", str(session), "--nwb", str(tmp_path / "o.nwb"))
    assert code == 1 and err.count("\n") == 1 and "pip install 'myoforce[nwb]'" in err


def test_help_and_other_commands_do_not_import_pynwb():
    code = ("import sys; from app.cli.main import build_parser; build_parser(); "
            "assert 'pynwb' not in sys.modules and 'hdmf' not in sys.modules, 'imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_export_inspect_prints_the_inspector_findings(tmp_path, capsys, session):
    code, out, err = _cli(capsys, "export", str(session), "--nwb", str(tmp_path / "i.nwb"),
                          "--inspect")
    assert code == 0, err
    assert "nwbinspector" in out and "CRITICAL" not in out


@pytest.mark.parametrize("given, binomial, problem", [
    ("rat", "Rattus norvegicus", False), ("Mouse", "Mus musculus", False),
    ("Rattus norvegicus", "Rattus norvegicus", False), ("rodent", "rodent", True),
    (None, None, True)])
def test_species_becomes_a_latin_binomial(given, binomial, problem):
    name, why = species_binomial(given)
    assert name == binomial and (why is not None) == problem


def test_age_sex_and_device_identity():
    assert iso_age(12) == ("P12W", None) and iso_age(10.5) == ("P73.5D", None)
    assert iso_age(None)[0] is None and "age" in iso_age(None)[1]
    assert nwb_sex("male") == ("M", None) and nwb_sex(None)[0] == "U"
    assert parse_idn("Agilent Technologies,33521A,MY123,2.03") == {
        "manufacturer": "Agilent Technologies", "model": "33521A", "serial": "MY123",
        "firmware": "2.03"}
    assert parse_idn("DAQ board")["model"] == "DAQ board"


def test_a_study_folder_exports_its_sessions_with_the_animals_facts(tmp_path, capsys):
    """A study folder is read through the study's loader: outputs mirror
    sessions/<timepoint>/<animal>, and the animal's date of birth from the study file
    fills the Subject (the session's own metadata has no age)."""
    import pynwb

    from app.study.animals import validate_animal
    from app.study.operations import add_animals, init_study, randomise
    study = init_study(tmp_path / "st", "Mg study", ["baseline", "week-4"])
    add_animals(study, [validate_animal({"id": "R01", "sex": "female",
                                         "date_of_birth": "2026-08-01"}, "t"),
                        validate_animal({"id": "R02", "sex": "male"}, "t")])
    randomise(study, seed=3)
    for tp, animal in (("baseline", "R01"), ("week-4", "R01"), ("week-4", "R02")):
        (study.root / "sessions" / tp).mkdir(parents=True, exist_ok=True)
        write_synthetic_session(study.root / "sessions" / tp / f"{animal}.h5", **{
            **SHORT, "metadata": SessionMetadata(subject_id=animal, body_mass_g=250)})
    code, out, err = _cli(capsys, "export", str(study.root), "--nwb", str(tmp_path / "nwb"))
    assert code == 0, err
    made = sorted(p.relative_to(tmp_path / "nwb").as_posix()
                  for p in (tmp_path / "nwb").rglob("*.nwb"))
    assert made == ["sessions/baseline/R01.nwb", "sessions/week-4/R01.nwb",
                    "sessions/week-4/R02.nwb"]
    with pynwb.NWBHDF5IO(str(tmp_path / "nwb/sessions/week-4/R01.nwb"), "r") as io:
        nwb = io.read()
        s = nwb.subject
        assert s.date_of_birth.date().isoformat() == "2026-08-01" and s.sex == "F"
        assert s.species == "Rattus norvegicus" and "Mg study" in nwb.experiment_description
        assert "week-4" in nwb.experiment_description
    with pynwb.NWBHDF5IO(str(tmp_path / "nwb/sessions/week-4/R02.nwb"), "r") as io:
        assert io.read().subject.date_of_birth is None           # not known: not invented
    assert "age unknown" in out                                  # ... and said


def test_json_gives_one_object_per_session_including_failures(tmp_path, capsys, session):
    import json
    bad = tmp_path / "bad.h5"
    bad.write_text("not a session\n")
    code, out, err = _cli(capsys, "export", str(session), str(bad), "--nwb",
                          str(tmp_path / "o"), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(rows) == 2 and err.count("\n") == 1
    good, failed = rows
    assert good["error"] is None and good["output"].endswith("s1.nwb") and good["trials"] == 1
    assert good["status"] == "complete" and good["warnings"] == [] and good["notes"] == []
    assert failed["output"] is None and "bad.h5" in failed["error"]
