"""Study folder: dose arithmetic against hand-computed values, animals, randomisation
(simple / block / stratified, reproducible, never re-allocated), blinding, exclusions,
bad input as one line naming the field."""
import collections
import datetime as dt

import pytest

from app.cli.main import main
from app.errors import UserError
from app.study import load_study
from app.study.allocation import allocate
from app.study.dose import daily_dose, mass_fraction, molar_mass, parse_formula
from app.study.operations import (
    add_animals, exclude, init_study, randomise, record_mass, status_rows, unblind,
)
from app.study.animals import validate_animal


# ----------------------------------------------------------------------------- dose
def test_magnesium_aspartate_dihydrate_by_hand():
    # C 8×12.011 + H 16×1.008 + Mg 24.305 + N 2×14.007 + O 10×15.999 = 324.525 g/mol
    assert parse_formula("C8H12MgN2O8·2H2O") == {"C": 8, "H": 16, "Mg": 1, "N": 2, "O": 10}
    assert molar_mass("C8H12MgN2O8·2H2O") == pytest.approx(324.525, abs=1e-9)
    assert mass_fraction("C8H12MgN2O8·2H2O") == pytest.approx(24.305 / 324.525)
    assert 100 * mass_fraction("C8H12MgN2O8.2H2O") == pytest.approx(7.4894, abs=1e-4)


def test_other_formulas_by_hand():
    # MgCl2·6H2O: 24.305 + 2×35.45 + 12×1.008 + 6×15.999 = 203.295
    assert molar_mass("MgCl2·6H2O") == pytest.approx(203.295)
    # Mg(C4H6NO4)2 written with parentheses = anhydrous aspartate 288.494
    assert molar_mass("Mg(C4H6NO4)2") == pytest.approx(324.525 - 2 * 18.015)
    for bad in ("", "C8Xx", "Mg(OH", "MgO)2", "C8H12·"):
        with pytest.raises(UserError):
            molar_mass(bad)


def test_daily_dose_by_hand():
    f = 24.305 / 324.525
    d = daily_dose(50.0, "elemental_mg", 320.0, f)          # 50 mg Mg/kg, 320 g
    assert d.mg_mg == pytest.approx(16.0)
    assert d.salt_mg == pytest.approx(16.0 / f) and d.salt_mg == pytest.approx(213.64, abs=0.01)
    assert d.mg_mmol == pytest.approx(16.0 / 24.305)
    s = daily_dose(500.0, "salt", 300.0, f)                  # 500 mg salt/kg, 300 g
    assert s.salt_mg == pytest.approx(150.0) and s.mg_mg == pytest.approx(150.0 * f)
    c = daily_dose(50.0, "elemental_mg", 300.0, 0.0745)      # certificate: 7.45 % Mg
    assert c.salt_mg == pytest.approx(15.0 / 0.0745)
    with pytest.raises(UserError):
        daily_dose(50.0, "elemental_mg", 300.0, 0.0)


@pytest.fixture
def study(tmp_path):
    s = init_study(tmp_path / "s", "test study", ["baseline", "week-4"])
    animals = [validate_animal({"id": f"R{i:02d}", "sex": "male" if i % 2 else "female",
                                "body_mass": [{"date": "2026-10-01", "g": 250 + i}]}, "t")
               for i in range(1, 13)]
    add_animals(s, animals)
    return load_study(s.root)


def test_certificate_percentage_replaces_the_formula(study):
    text = (study.root / "study.toml").read_text()
    (study.root / "study.toml").write_text(text.replace("# mg_percent = 7.45", "mg_percent = 7.45"))
    assert load_study(study.root).design.compound.mg_fraction() == (0.0745,
                                                                   "certificate of analysis")
    assert study.design.compound.mg_fraction()[0] == pytest.approx(0.074894, abs=1e-6)


def test_dose_command(study, capsys):
    record_mass(study, "R01", 320.0, dt.date(2026, 11, 1))
    randomise(study, seed=3)
    assert main(["study", "dose", str(study.root), "--date", "2026-11-02"]) == 0
    out = capsys.readouterr().out
    assert "vehicle" not in out and "treatment" not in out       # blinded
    assert "324.52 g/mol" in out and "7.489 %" in out
    row = next(line for line in out.splitlines() if "R01" in line)
    assert "213.64" in row and "16.000" in row and "0.6583" in row


def test_dose_command_fits_80_columns_and_says_who_gets_the_compound(study, capsys,
                                                                      monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    randomise(study, seed=3)
    assert main(["study", "dose", str(study.root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert lines[1].startswith("  ")              # the compound line continues indented
    assert lines[-2].startswith("blinded: one group gets the compound")
    assert lines[-1].startswith("  ")               # ... and so does the carrier note


def test_unblinded_dose_gives_carrier_animals_no_compound_amount(study, capsys):
    randomise(study, seed=3)
    unblind(study, "primary analysis locked")
    s = load_study(study.root)
    assert main(["study", "dose", str(s.root)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "│ R" in line]
    compound = s.design.dose.group
    assert rows and any(compound in r for r in rows) and not all(compound in r for r in rows)
    for row in rows:
        if compound in row:
            assert "carrier" not in row and float(row.split("│")[5]) > 0
        else:
            assert "carrier" in row and row.split("│")[6].strip() == "0"


@pytest.mark.parametrize("grams, says", [("-5", "must be > 0"), ("nan", "finite"),
                                          ("99999", "must be < 5000")])
def test_a_bad_body_mass_is_one_line(study, capsys, grams, says):
    assert main(["study", "mass", "R01", grams, "--study", str(study.root)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "R01" in err and says in err


@pytest.mark.parametrize("edit, says", [
    (lambda t: "titel = 'x'\n" + t, "study.toml: titel: is not a field of the study file"),
    (lambda t: t.replace('route = "oral gavage"', 'route = "oral gavage"\nbogus = 1'),
     "study.toml: dose.bogus: is not a field of [dose]"),
])
def test_unknown_study_file_fields_name_their_table_not_a_class(study, edit, says):
    path = study.root / "study.toml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(UserError) as info:
        load_study(study.root)
    assert says in str(info.value) and "StudyDesign" not in str(info.value)


# ----------------------------------------------------------------------- randomise
def test_block_randomisation_is_balanced_and_reproducible():
    animals = [(f"R{i:02d}", None) for i in range(12)]
    a = allocate(animals, 2, "block", seed=7, block_size=4)
    assert a == allocate(list(reversed(animals)), 2, "block", seed=7, block_size=4)
    ids = sorted(a)
    for start in range(0, 12, 4):                           # every block of 4: 2 + 2
        assert sorted(a[i] for i in ids[start:start + 4]) == [0, 0, 1, 1]
    assert a != allocate(animals, 2, "block", seed=8, block_size=4)


def test_stratified_by_sex_balances_each_sex():
    animals = [(f"R{i:02d}", "male" if i < 8 else "female") for i in range(12)]
    a = allocate(animals, 2, "block", seed=3, block_size=4, stratify_by_sex=True)
    for sex in ("male", "female"):
        counts = collections.Counter(a[i] for i, s in animals if s == sex)
        assert counts[0] == counts[1]


def test_simple_randomisation_uses_every_group():
    a = allocate([(f"R{i:03d}", None) for i in range(200)], 2, "simple", seed=1)
    assert 70 < sum(a.values()) < 130


def test_randomise_records_seed_and_never_reallocates(study):
    new = randomise(study, seed=42)
    assert len(new) == 12 and set(new.values()) == {"A", "B"}
    again = load_study(study.root)
    assert again.codes == new and again.runs[0]["seed"] == 42
    assert any(e["event"] == "randomised" and e["seed"] == 42 for e in again.log)
    with pytest.raises(UserError, match="never re-allocated"):
        randomise(again, ["R03"])
    with pytest.raises(UserError, match="no animal to allocate"):
        randomise(again)
    key = (study.root / "allocation-key.toml").read_bytes()
    add_animals(again, [validate_animal({"id": "R99", "sex": "male"}, "t")])
    randomise(again)                                        # only the new animal
    assert load_study(study.root).codes["R03"] == new["R03"]
    assert (study.root / "allocation-key.toml").read_bytes() == key
    with pytest.raises(UserError, match="refusing to overwrite"):
        again.write_key({"A": "x"})


def test_blinding_shows_codes_until_unblinded(study, capsys):
    randomise(study, seed=1)
    assert main(["study", "status", "--study", str(study.root)]) == 0
    out = capsys.readouterr().out
    assert "group A" in out and "vehicle" not in out and "treatment" not in out
    assert main(["study", "unblind", str(study.root), "--reason", "x"]) == 1   # no terminal
    assert "confirmation" in capsys.readouterr().err
    assert load_study(study.root).blinded
    unblind(study, "primary analysis locked")
    s = load_study(study.root)
    assert not s.blinded and s.unblinding["reason"] == "primary analysis locked"
    assert {s.label(a) for a in s.codes} == {"vehicle", "treatment"}
    with pytest.raises(UserError, match="was unblinded"):
        unblind(s, "again")


def test_exclusion_is_time_stamped_and_logged(study):
    exclude(study, "R05", "anaesthetic death")
    s = load_study(study.root)
    assert s.animals["R05"].excluded.reason == "anaesthetic death"
    assert any(e["event"] == "excluded" and e["animal"] == "R05" for e in s.log)
    with pytest.raises(UserError, match="already excluded"):
        exclude(s, "R05", "again")
    with pytest.raises(UserError, match="R77.*not in the study"):
        exclude(s, "R77", "x")
    randomise(s, seed=1)
    assert "R05" not in load_study(study.root).codes
    row = next(r for r in status_rows(s) if r["animal"] == "R05")
    assert row["excluded"] is not None and row["sessions"] == {"baseline": 0, "week-4": 0}


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("edit,words", [
    (("planned_n_per_group = 6", "planned_n_per_group = 0"), ["planned_n_per_group"]),
    (("amount_mg_per_kg_per_day = 50.0", "amount_mg_per_kg_per_day = -1"),
     ["dose.amount_mg_per_kg_per_day"]),
    (('formula = "C8H12MgN2O8·2H2O"', 'formula = "C8H12XyN2O8"'), ["compound", "Xy"]),
    (('method = "block"', 'method = "coin"'), ["randomisation.method"]),
    (('group = "treatment"', 'group = "placebo"'), ["dose.group", "placebo"]),
    (("blinding = true", "blinding = true\nbogus = 1"), ["bogus"]),
    (("blinding = true", "blinding = "), ["not valid TOML"]),
])
def test_bad_study_file_is_one_line_naming_the_field(study, capsys, edit, words):
    path = study.root / "study.toml"
    path.write_text(path.read_text().replace(*edit))
    assert main(["study", "status", str(study.root)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "study.toml" in err
    for w in words:
        assert w in err


def test_csv_import_errors_name_line_and_column(study, tmp_path, capsys):
    bad = tmp_path / "a.csv"
    bad.write_text("id,sex,body_mass_g\nX1,male,300\nX2,male,heavy\n")
    assert main(["study", "import", str(bad), "--study", str(study.root)]) == 1
    err = capsys.readouterr().err
    assert "line 3" in err and "g" in err and "heavy" in err
    assert "X1" not in load_study(study.root).animals              # all or nothing
    dup = tmp_path / "d.csv"
    dup.write_text("id\nR01\n")
    assert main(["study", "import", str(dup), "--study", str(study.root)]) == 1
    assert "R01" in capsys.readouterr().err


def test_init_refuses_an_existing_study(study, capsys):
    assert main(["study", "init", str(study.root)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err


# ------------------------------------------------------------------ run --study hook
DEMO = "protocols/library/protocol1-demo.yaml"


@pytest.mark.parametrize("extra,words", [
    (["--animal", "R77"], ["R77", "not in the study"]),
    (["--animal", "R01", "--timepoint", "week-9"], ["week-9", "not declared"]),
    (["--animal", "R01"], ["several timepoints", "--timepoint"]),
    (["--animal", "R01", "--timepoint", "baseline", "--group", "x"], ["--group", "study"]),
    (["--animal", "R01", "--timepoint", "baseline", "--out", "x.h5"], ["--out", "study"]),
    (["--animal", "R02", "--timepoint", "baseline"], ["R02", "excluded"]),
])
def test_run_with_study_refuses_bad_animals_and_timepoints(study, capsys, extra, words):
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1]
    randomise(study, seed=1)
    exclude(study, "R02", "test")
    code = main(["run", str(root / DEMO), "--sim", "--yes", "--study", str(study.root), *extra])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    for w in words:
        assert w in err
    assert not list((study.root / "sessions").rglob("*.h5"))


def test_run_with_an_unallocated_animal_is_refused(study, capsys):
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1]
    code = main(["run", str(root / DEMO), "--sim", "--yes", "--study", str(study.root),
                 "--animal", "R01", "--timepoint", "baseline"])
    assert code == 1 and "randomise" in capsys.readouterr().err


def test_study_metadata_never_shows_the_real_group_while_blinded(study):
    from app.study.run_link import study_session
    randomise(study, seed=1)
    link = study_session(study.root, "R01", "baseline", dt.date(2026, 10, 2))
    assert link.metadata["group"].startswith("group ")
    assert "compound" not in link.metadata and link.metadata["body_mass_g"] == 251
    assert link.out == study.root / "sessions" / "baseline" / "R01.h5"
    assert "vehicle" not in str(link.metadata.get("group"))
    unblind(study, "done")
    real = load_study(study.root).true_group("R01")
    link = study_session(study.root, "R01", "baseline")
    assert link.metadata["group"] == real


def test_figures_are_reused_for_the_same_data(monkeypatch, tmp_path):
    from app.analysis.results import SessionResult
    from app.compare import compare_sessions
    from app.study import figures
    monkeypatch.setenv("MYOFORCE_CACHE_DIR", str(tmp_path / "cache"))
    res = [SessionResult(file=f"f{i}", format="x", metadata={"subject_id": f"R{i}"},
                         summary={"pt_mN": 100.0 + 7 * i, "po_mN": 900.0 + 11 * i})
           for i in range(6)]
    comp = compare_sessions(res, ["A", "B"] * 3)
    calls = []
    monkeypatch.setattr(figures, "_png", lambda fig: calls.append(1) or b"png")
    first = figures.dot_over_mean(comp, "t")
    assert figures.dot_over_mean(comp, "t") == first == b"png" and len(calls) == 1
    figures.dot_over_mean(comp, "other title")                # other input: drawn
    assert len(calls) == 2
    monkeypatch.setenv("MYOFORCE_CACHE", "off")
    figures.dot_over_mean(comp, "t")
    assert len(calls) == 3


def test_simulated_effect_per_group_and_animal(study):
    from app.study.run_link import animal_factor, sim_effect
    path = study.root / "study.toml"
    path.write_text(path.read_text().replace("effects = { treatment = 1.15 }",
                                             'effects = { treatment = "nmj-block:0.3" }'))
    s = load_study(study.root)
    f = animal_factor(s, "R01")
    assert 0.8 < f < 1.2 and f == animal_factor(load_study(study.root), "R01")   # reproducible
    assert sim_effect(s, "R01", "treatment") == {"force": pytest.approx(f), "time": 1.0,
                                                 "fatigue": 1.0, "nmj_block": 0.3}
    assert sim_effect(s, "R01", "vehicle")["nmj_block"] == 0.0
    path.write_text(path.read_text().replace('"nmj-block:0.3"', '"nmj-block:1.5"'))
    with pytest.raises(UserError, match="simulation.*effects.treatment.*nmj_block"):
        load_study(study.root)


def test_report_lists_foreign_and_unknown_sessions(study, capsys):
    from app.study.results import study_results
    from tests.synthetic import SessionSpec, session_recording, write_h5
    randomise(study, seed=4)
    rec, _ = session_recording(SessionSpec(fs=2000.0, twitches=2, ff_freqs=(10, 50, 100),
                                           noise_sd=0.1))
    base = study.root / "sessions" / "baseline"
    base.mkdir(parents=True, exist_ok=True)
    write_h5(rec, base / "R01.h5", subject_id="R01")
    write_h5(rec, base / "R02.h5", subject_id="R03")          # filed under the wrong animal
    res = study_results(load_study(study.root))
    assert [r.animal for r, _ in res.sessions] == ["R01"]
    assert [(r.animal, s) for r, s in res.subject_mismatch] == [("R02", "R03")]
    assert ("R01", "week-4") in res.missing
    write_h5(rec, base / "R77.h5", subject_id="R77")          # not an animal of the study
    assert main(["study", "report", str(study.root), "--out",
                 str(study.root / "r.html")]) == 1
    err = capsys.readouterr().err
    assert "R77.h5" in err and "not in the study" in err and err.count("\n") == 1
    (base / "R77.h5").unlink()
    (study.root / "sessions" / "week-9").mkdir()
    (study.root / "sessions" / "week-9" / "R01.h5").write_bytes(b"")
    assert main(["study", "status", str(study.root)]) == 1
    assert "week-9" in capsys.readouterr().err


def test_group_force_frequency_curve_goes_through_its_points(monkeypatch, tmp_path):
    """The drawn sigmoid is the fit's own curve (midpoint, not the 50 %-of-max f50)."""
    import numpy as np
    from app.analysis.force_frequency import sigmoid
    from app.analysis.results import SessionResult
    from app.compare import compare_sessions
    from app.study import figures
    monkeypatch.setenv("MYOFORCE_CACHE", "off")
    freqs = [1, 10, 20, 40, 60, 80, 100, 150]
    res = []
    for i in range(4):
        force = sigmoid(np.array(freqs, float), 200.0, 1000.0, 50.0 + i, 4.0)
        res.append(SessionResult(file=f"f{i}", format="x", metadata={"subject_id": f"R{i}"},
                                 summary={"force_frequency": {"frequency_hz": freqs,
                                          "force_normalized": list(force / force.max())}}))
    comp = compare_sessions(res, ["A", "A", "B", "B"])
    drawn = {}
    monkeypatch.setattr(figures, "_png", lambda fig: drawn.setdefault("fig", fig) and b"")
    figures.force_frequency(comp, "t")
    ax = drawn["fig"].axes[0]
    for line in ax.get_lines():
        if "fit" in (line.get_label() or ""):
            group = line.get_label().split()[0]
            pts = [p for p in comp.force_frequency if p.group == group]
            x, y = line.get_data()
            for p in pts:
                assert np.interp(p.frequency_hz, x, y) == pytest.approx(p.mean, abs=0.01)
