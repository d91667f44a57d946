"""The GUI starts simulated rigs through the same core recipe as the CLI
(app.rig.simulated.SimRigSpec): ``gui --sim daq`` connects the simulated DAQ board that
``run --sim daq`` uses, and a study session run from the study picker is the study
animal's muscle, with the hidden treatment effect ``run --study --sim`` gives it —
concealed in the rig description while blinded, and shown nowhere in the window."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import build_parser
from app.errors import UserError
from app.rig.simulated import SimRigSpec
from app.study import load_study
from app.study.animals import validate_animal
from app.study.operations import add_animals, init_study, randomise
from app.study.run_link import HIDDEN_EFFECT, animal_key, study_session
from sim_devices.muscle.treatment import TreatmentEffect
from tests.gui_fakes import CapturingSession

pytestmark = [pytest.mark.gui]

DEMO = Path(__file__).resolve().parents[1] / "protocols" / "library" / "protocol1-demo.yaml"


class _Stop(Exception):
    pass


def cli_spec(monkeypatch, *argv: str) -> SimRigSpec:
    """The recipe ``myoforce run ARGV`` connects (stopped before anything starts)."""
    from app.cli.run_checks import plan_run
    seen = []

    def record(self, on_command=None):
        seen.append(self)
        raise _Stop
    monkeypatch.setattr(SimRigSpec, "connect", record)
    plan = plan_run(build_parser("run").parse_args(["run", str(DEMO), "--yes", *argv]))
    with pytest.raises(_Stop):
        plan.rig_factory(None)
    monkeypatch.undo()
    return seen[0]


def spy_on_connect(monkeypatch) -> list[SimRigSpec]:
    """Every recipe the GUI starts (and it does start them)."""
    seen: list[SimRigSpec] = []
    real = SimRigSpec.connect

    def record(self, on_command=None):
        seen.append(self)
        return real(self, on_command)
    monkeypatch.setattr(SimRigSpec, "connect", record)
    return seen


def test_gui_sim_takes_the_kinds_of_run_sim():
    parse = build_parser().parse_args
    assert parse(["gui", "--sim"]).sim == "serial"
    assert parse(["gui", "--sim", "daq"]).sim == "daq"
    assert parse(["gui", "rec.h5", "--sim", "daq"]).file == "rec.h5"
    assert parse(["gui"]).sim is None
    run_sim = next(a for a in build_parser("run")._subparsers._group_actions[0]
                   .choices["run"]._actions if a.dest == "sim")
    gui_sim = next(a for a in build_parser("gui")._subparsers._group_actions[0]
                   .choices["gui"]._actions if a.dest == "sim")
    assert gui_sim.choices == run_sim.choices and gui_sim.const == run_sim.const
    with pytest.raises(SystemExit):
        parse(["gui", "--sim", "usb"])


def test_gui_sim_daq_connects_the_rig_run_sim_daq_connects(qtbot, monkeypatch, tmp_path):
    from app.gui.app import build_window, ensure_app
    expected = cli_spec(monkeypatch, "--sim", "daq", "--muscle", "soleus",
                        "--out", str(tmp_path / "x.h5"))
    seen = spy_on_connect(monkeypatch)
    ensure_app()
    win = build_window(sim="daq", muscle="soleus")
    win.confirm_quit = lambda: True
    qtbot.addWidget(win)
    page = win.acquire
    qtbot.waitUntil(lambda: page.rig_panel.connected, timeout=30000)
    assert seen == [expected] and expected.kind == "daq" and expected.muscle == "rat-soleus"
    rig = page.experiment.rig
    assert rig.description["sim"]["backend"] == "daq"
    assert rig.description["sim"]["muscle"] == "rat-soleus"
    assert "emg" in [name for name, _unit in page.experiment.aux_ring.channels]
    assert page.rig_panel.sim_kind.currentData() == "daq"
    assert page.rig_panel.muscle.currentText() == "rat-soleus"
    win.close()


@pytest.fixture
def blinded_study(tmp_path):
    study = init_study(tmp_path / "s", "gui sim study", ["baseline"])
    toml = study.root / "study.toml"
    toml.write_text(toml.read_text().replace("effects = { treatment = 1.15 }",
                                             "effects = { treatment = 1.6 }"))
    add_animals(study, [validate_animal({"id": f"R0{i}", "sex": "male", "body_mass": [
        {"date": "2026-10-01", "g": 300 + i}]}, "t") for i in range(1, 5)])
    randomise(study, seed=3)
    return load_study(study.root)


def test_the_core_runs_a_study_session_only_on_that_animal(blinded_study, tmp_path):
    """Qt-free: Experiment refuses a study session on a simulated rig not started as the
    animal, and a plain session on one that was; restart_simulated makes it so."""
    from app.live.experiment import Experiment
    from protocols.loader import load_protocol
    treated = next(a for a in blinded_study.codes if blinded_study.true_group(a) == "treatment")
    link = study_session(blinded_study.root, treated, None)
    link.out.parent.mkdir(parents=True)
    exp = Experiment()
    try:
        exp.connect_sim(SimRigSpec())
        assert exp.rig.sim.muscle.treatment == TreatmentEffect()
        protocol = load_protocol(DEMO)
        start = dict(metadata={"subject_id": treated}, session_factory=CapturingSession)
        with pytest.raises(UserError, match=f"not started as study animal {treated}"):
            exp.start(protocol, link.out, study=link, **start)
        exp.restart_simulated(link)
        assert exp.sim_animal == animal_key(link)
        assert exp.rig.sim.muscle.treatment.force == pytest.approx(link.sim_effect["force"])
        with pytest.raises(UserError, match="not started as no study's animal"):
            exp.start(protocol, tmp_path / "plain.h5", **start)
        exp.start(protocol, link.out, study=link, **start)
        assert exp.wait(10)
        assert CapturingSession.made[-1].rig.description["sim"]["treatment_effect"] == HIDDEN_EFFECT
    finally:
        exp.close()


def test_a_study_run_from_the_picker_gets_the_cli_s_hidden_effect(qtbot, monkeypatch,
                                                                   blinded_study, tmp_path):
    treated = next(a for a in blinded_study.codes if blinded_study.true_group(a) == "treatment")
    expected = cli_spec(monkeypatch, "--sim", "--study", str(blinded_study.root),
                        "--animal", treated)
    assert expected.treatment_effect["force"] > 1.4           # the study's effect
    seen = spy_on_connect(monkeypatch)
    win, page = gui_page(qtbot, tmp_path)
    exp = page.experiment
    assert seen[-1].treatment_effect is None

    picker = page.study_picker
    assert picker.open(blinded_study.root)
    picker.animal.setCurrentText(treated)
    assert picker.pick()                     # picking the animal restarts the simulated rig
    qtbot.waitUntil(lambda: exp.sim_animal == animal_key(picker.link) and exp.connected
                    and page.rig_panel.connected, timeout=30000)
    assert seen[-1] == expected              # the very recipe `run --study --sim` starts
    assert exp.rig.sim.muscle.treatment == TreatmentEffect.coerce(expected.treatment_effect)
    assert exp.rig.description["sim"]["treatment_effect"] == HIDDEN_EFFECT

    CapturingSession.made.clear()
    assert page.run_protocol()
    qtbot.waitUntil(lambda: bool(CapturingSession.made) and not page.running, timeout=10000)
    assert CapturingSession.made[0].out == blinded_study.root / "sessions" / "baseline" / f"{treated}.h5"
    assert CapturingSession.made[0].rig.description["sim"]["treatment_effect"] == HIDDEN_EFFECT

    # nothing in the window tells the group or the effect
    shown = " ".join([*page.log.lines, page.rig_panel.status.text(), picker.label.text(),
                      win.statusBar().currentMessage(),
                      *(str(v) for v in page.metadata_form.raw_values().values())])
    factor = f"{expected.treatment_effect['force']:.3g}"
    assert "vehicle" not in shown and "treatment" not in shown and factor not in shown, shown
    assert "STOP" not in shown          # a restart is no STOP: nothing was running

    # a run into another file is no study session: the plain simulated muscle again
    CapturingSession.made.clear()
    page.run_controls.output.set_path(tmp_path / "plain.h5")
    assert page.run_protocol()               # restarts first, then runs
    qtbot.waitUntil(lambda: bool(CapturingSession.made) and not page.running, timeout=30000)
    assert exp.sim_animal is None and exp.rig.sim.muscle.treatment == TreatmentEffect()
    assert "treatment_effect" not in CapturingSession.made[0].rig.description["sim"]
    win.close()


def soleus(study):
    """The study measuring the soleus instead of the EDL."""
    toml = study.root / "study.toml"
    toml.write_text(toml.read_text().replace('muscle = "EDL"', 'muscle = "soleus"'))
    return load_study(study.root)


def gui_page(qtbot, tmp_path, *, muscle: str = "rat-edl"):
    from app.gui.app import ensure_app
    from app.gui.main_window import MainWindow
    ensure_app()
    win = MainWindow()
    win.confirm_quit = lambda: True
    qtbot.addWidget(win)
    page = win.acquire
    page.session_factory = CapturingSession
    page.run_controls.auto_continue.setChecked(True)
    page.run_controls.output.set_directory(tmp_path)
    page.rig_panel.choose_sim("serial", muscle)
    page.connect_rig(page.rig_panel.spec())
    qtbot.waitUntil(lambda: page.rig_panel.connected, timeout=30000)
    return win, page


def run_once(qtbot, page) -> CapturingSession:
    CapturingSession.made.clear()
    assert page.run_protocol(), page.run_controls.notice.text()
    qtbot.waitUntil(lambda: bool(CapturingSession.made) and not page.running, timeout=30000)
    return CapturingSession.made[0]


def test_a_study_run_simulates_and_records_the_study_s_muscle(qtbot, monkeypatch,
                                                             blinded_study, tmp_path):
    """The study says soleus, the rig panel EDL: the GUI says so in one line and runs the
    study's muscle, as ``run --study --sim`` does; a Subject-tab muscle other than the
    study's is refused, as ``run --study --muscle`` is. Before: EDL simulated, soleus
    recorded."""
    study = soleus(blinded_study)
    animal = sorted(study.codes)[0]
    _plan_spec = cli_spec(monkeypatch, "--sim", "--study", str(study.root), "--animal", animal)
    assert _plan_spec.muscle == "rat-soleus"
    seen = spy_on_connect(monkeypatch)
    win, page = gui_page(qtbot, tmp_path)
    exp, picker = page.experiment, page.study_picker
    assert seen[-1].muscle == "rat-edl"
    assert picker.open(study.root)
    picker.animal.setCurrentText(animal)
    assert picker.pick()
    qtbot.waitUntil(lambda: exp.simulated_muscle == "rat-soleus" and exp.sim_animal ==
                    animal_key(picker.link) and page.rig_panel.connected, timeout=30000)
    assert seen[-1] == _plan_spec            # the recipe `run --study --sim` starts
    note = "simulating rat-soleus (the study's muscle soleus), not the rig's rat-edl"
    assert page.log.lines.count(next(line for line in page.log.lines if note in line)) == 1
    assert "Simulating rat-soleus" in page.rig_panel.status.text()

    made = run_once(qtbot, page)
    assert made.metadata.muscle == "soleus"
    assert made.rig.description["sim"]["muscle"] == "rat-soleus"

    page.metadata_form.set_values({"muscle": "EDL"})
    CapturingSession.made.clear()
    assert not page.run_protocol()
    assert ("Subject tab's Muscle EDL: the study's muscle is soleus"
            in page.run_controls.notice.text())
    assert not CapturingSession.made and exp.simulated_muscle == "rat-soleus"
    win.close()


def test_a_plain_run_records_the_simulated_muscle(qtbot, tmp_path):
    """No study: a blank Subject-tab muscle records the rig panel's (before: EDL whatever
    was simulated); a Subject-tab muscle other than the panel's is simulated (the rig
    restarts), said in one line, as ``run --rig SIM.toml --muscle M`` does."""
    win, page = gui_page(qtbot, tmp_path, muscle="rat-soleus")
    exp = page.experiment
    page.metadata_form.set_values({"subject_id": "r1"})
    page.run_controls.output.set_path(tmp_path / "a.h5")
    made = run_once(qtbot, page)
    assert made.metadata.muscle == "soleus"
    assert made.rig.description["sim"]["muscle"] == "rat-soleus"

    page.metadata_form.set_values({"muscle": "EDL"})
    page.run_controls.output.set_path(tmp_path / "b.h5")
    made = run_once(qtbot, page)          # restarts the simulated rig first
    assert made.metadata.muscle == "EDL"
    assert made.rig.description["sim"]["muscle"] == exp.simulated_muscle == "rat-edl"
    assert any("simulating rat-edl (Subject tab's Muscle EDL), not the rig's rat-soleus" in line
               for line in page.log.lines)
    win.close()
