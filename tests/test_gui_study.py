"""The Subject tab offers a study's animals: picking one fills the subject from the study
(the blinded code as the group) and the output file is the study's file for it."""
from __future__ import annotations

import pytest

from app.gui.app import ensure_app
from app.gui.main_window import MainWindow
from app.study import load_study
from app.study.animals import validate_animal
from app.study.operations import add_animals, exclude, init_study, randomise

pytestmark = [pytest.mark.gui]


def test_subject_tab_offers_the_study_animals(qtbot, tmp_path):
    study = init_study(tmp_path / "s", "gui study", ["baseline", "week-4"])
    add_animals(study, [validate_animal({"id": f"R0{i}", "sex": "female", "body_mass": [
        {"date": "2026-10-01", "g": 250 + i}]}, "t") for i in range(1, 5)])
    randomise(study, seed=2)
    exclude(study, "R04", "test")
    ensure_app()
    win = MainWindow()
    win.confirm_quit = lambda: True
    qtbot.addWidget(win)
    page = win.acquire
    picker = page.study_picker
    assert not picker.open(tmp_path / "nowhere") and "no such study folder" in picker.error.text()
    assert picker.open(study.root)
    assert [picker.animal.itemText(i) for i in range(picker.animal.count())] == \
        ["R01", "R02", "R03"]                          # excluded R04 not offered
    picker.animal.setCurrentText("R02")
    picker.timepoint.setCurrentText("week-4")
    assert picker.pick()
    values = page.metadata_form.raw_values()
    assert values["subject_id"] == "R02" and values["sex"] == "female"
    assert values["group"] == f"group {load_study(study.root).codes['R02']}"
    assert values["timepoint"] == "week-4" and values["body_mass_g"] == 252
    assert page.run_controls.output.path == study.root / "sessions" / "week-4" / "R02.h5"
    text = " ".join(str(v) for v in values.values() if v is not None)
    assert "vehicle" not in text.replace("0.9 % saline", "") and "treatment" not in text
    win.close()
