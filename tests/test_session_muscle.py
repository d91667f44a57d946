"""One rule for a session's muscle (app.session_muscle), for ``myoforce run`` and the GUI:
the study's muscle is the session's (an operator's other muscle refused), else the
operator's, else the rig's; the recorded muscle is always the simulated one."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import build_parser
from app.errors import UserError
from app.rig.simulated import SimRigFile, SimRigSpec
from app.session_muscle import choose_muscle
from app.study import load_study
from app.study.animals import validate_animal
from app.study.operations import add_animals, init_study, randomise
from app.study.run_link import study_session
from tests.gui_fakes import CapturingSession

DEMO = Path(__file__).resolve().parents[1] / "protocols" / "library" / "protocol1-demo.yaml"


def test_the_study_s_muscle_replaces_the_rig_s_and_says_so():
    c = choose_muscle(None, simulated=True, study="soleus", rig="rat-edl")
    assert (c.preset, c.name) == ("rat-soleus", "soleus")
    assert c.note == "simulating rat-soleus (the study's muscle soleus), not the rig's rat-edl"
    same = choose_muscle("rat-soleus", simulated=True, study="Soleus", rig="rat-soleus")
    assert (same.preset, same.name, same.note) == ("rat-soleus", "soleus", None)


def test_an_operator_s_muscle_other_than_the_study_s_is_refused_on_any_rig():
    for simulated in (True, False):
        with pytest.raises(UserError) as info:
            choose_muscle("EDL", simulated=simulated, study="soleus", field="--muscle")
        assert str(info.value).startswith("--muscle EDL: the study's muscle is soleus")
        assert "\n" not in str(info.value)
    # a real rig: any muscle name is metadata; the study's names it, no preset
    real = choose_muscle("diaphragm ", simulated=False, study="Diaphragm")
    assert (real.preset, real.name, real.note) == (None, "Diaphragm", None)


def test_without_a_study_the_operator_s_muscle_else_the_rig_s():
    c = choose_muscle("soleus", simulated=True, rig="rat-edl", field="metadata muscle")
    assert (c.preset, c.name) == ("rat-soleus", "soleus")
    assert c.note == "simulating rat-soleus (metadata muscle soleus), not the rig's rat-edl"
    c = choose_muscle(None, simulated=True, rig="rat-soleus")
    assert (c.preset, c.name, c.note) == ("rat-soleus", "soleus", None)
    assert choose_muscle(None, simulated=False, rig=None) == choose_muscle(None, simulated=False)
    assert choose_muscle(None, simulated=False).name is None


def test_a_study_muscle_the_simulation_lacks_is_refused_naming_the_study():
    with pytest.raises(UserError, match=r"^study.toml muscle: unknown muscle 'diaphragm'"):
        choose_muscle(None, simulated=True, study="diaphragm", rig="rat-edl")


@pytest.fixture
def soleus_study(tmp_path):
    study = init_study(tmp_path / "s", "soleus study", ["baseline"])
    toml = study.root / "study.toml"
    text = toml.read_text()
    assert 'muscle = "EDL"' in text
    toml.write_text(text.replace('muscle = "EDL"', 'muscle = "soleus"'))
    add_animals(study, [validate_animal({"id": f"R0{i}", "sex": "male", "body_mass": [
        {"date": "2026-10-01", "g": 300 + i}]}, "t") for i in range(1, 5)])
    randomise(study, seed=3)
    return load_study(study.root)


def cli_plan(monkeypatch, *argv: str):
    """``myoforce run ARGV``'s plan and the simulated-rig recipe it would start."""
    from app.cli.run_checks import plan_run
    seen = []

    def record(self, on_command=None):
        seen.append(self)
        raise RuntimeError("stop here")
    for cls in (SimRigSpec, SimRigFile):
        monkeypatch.setattr(cls, "connect", record)
    plan = plan_run(build_parser("run").parse_args(["run", str(DEMO), "--yes", *argv]))
    with pytest.raises(RuntimeError):
        plan.rig_factory(None)
    monkeypatch.undo()
    return plan, seen[0]


def test_run_study_simulates_and_records_the_study_s_muscle(monkeypatch, soleus_study, tmp_path):
    animal = sorted(soleus_study.codes)[0]
    study = ["--study", str(soleus_study.root), "--animal", animal]
    plan, spec = cli_plan(monkeypatch, "--sim", *study)
    assert spec.muscle == "rat-soleus" and plan.metadata.muscle == "soleus"
    plan, spec = cli_plan(monkeypatch, "--sim", *study, "--muscle", "sol")
    assert spec.muscle == "rat-soleus" and plan.metadata.muscle == "soleus"
    # a simulated rig file's own muscle gives way to the study's, in one line
    rig = tmp_path / "sim.toml"
    rig.write_text('name = "bench"\n[sim]\nmuscle = "rat-edl"\n')
    plan, recipe = cli_plan(monkeypatch, "--rig", str(rig), *study)
    assert recipe.sim_muscle == "rat-soleus" and plan.metadata.muscle == "soleus"
    assert plan.plan.muscle_note == ("simulating rat-soleus (the study's muscle soleus), "
                                     "not the rig's rat-edl")


def test_run_study_refuses_another_muscle_in_one_line(soleus_study, capsys):
    from app.cli.main import main
    animal = sorted(soleus_study.codes)[0]
    code = main(["run", str(DEMO), "--sim", "--yes", "--study", str(soleus_study.root),
                 "--animal", animal, "--muscle", "EDL"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "--muscle EDL: the study's muscle is soleus" in err
    assert not list((soleus_study.root / "sessions").rglob("*.h5"))


def test_the_core_never_records_one_muscle_and_simulates_another(soleus_study, tmp_path):
    """Qt-free (app.live.experiment, behind the GUI): a session's muscle that is not the
    running simulated one is refused until the rig is restarted with it; a blank muscle
    records the simulated one (before: always EDL)."""
    from app.live.experiment import Experiment
    from protocols.loader import load_protocol
    protocol = load_protocol(DEMO)
    run = dict(session_factory=CapturingSession)
    exp = Experiment()
    try:
        exp.connect_sim(SimRigSpec(muscle="rat-soleus"))
        exp.start(protocol, tmp_path / "a.h5", {"subject_id": "r1"}, **run)
        assert exp.wait(10)
        assert CapturingSession.made[-1].metadata.muscle == "soleus"
        assert CapturingSession.made[-1].rig.description["sim"]["muscle"] == "rat-soleus"

        with pytest.raises(UserError, match=r"runs rat-soleus, but the session's muscle is "
                                            r"EDL \(rat-edl\): restart it first"):
            exp.start(protocol, tmp_path / "b.h5", {"subject_id": "r1", "muscle": "edl"}, **run)
        choice = exp.muscle_for({"subject_id": "r1", "muscle": "edl"})
        assert choice.note == "simulating rat-edl (metadata muscle edl), not the rig's rat-soleus"
        exp.restart_simulated(None, choice.preset)
        assert exp.simulated_muscle == "rat-edl"
        exp.start(protocol, tmp_path / "b.h5", {"subject_id": "r1", "muscle": "edl"}, **run)
        assert exp.wait(10)
        made = CapturingSession.made[-1]
        assert made.metadata.muscle == "EDL" and made.rig.description["sim"]["muscle"] == "rat-edl"
        # the rig's own muscle is still the panel's: a blank muscle asks for it again
        assert exp.muscle_for({"subject_id": "r1"}).preset == "rat-soleus"

        link = study_session(soleus_study.root, sorted(soleus_study.codes)[0], None)
        link.out.parent.mkdir(parents=True, exist_ok=True)
        with pytest.raises(UserError, match="metadata muscle EDL: the study's muscle is soleus"):
            exp.muscle_for({"muscle": "EDL"}, link)
        exp.restart_simulated(link, exp.muscle_for({}, link).preset)
        exp.start(protocol, link.out, dict(link.metadata), study=link, **run)
        assert exp.wait(10)
        made = CapturingSession.made[-1]
        assert made.metadata.muscle == "soleus" and made.rig.description["sim"]["muscle"] == "rat-soleus"
    finally:
        exp.close()
