"""'run --sim': --group is metadata only (the simulated muscle is the same whatever the
group); --treatment picks none / contractile / neuromuscular block, bad ones refused."""
import argparse
from pathlib import Path

import pytest

import app.rig
from app.cli.commands import run as runcmd

DEMO = Path(__file__).resolve().parents[1] / "protocols" / "library" / "protocol1-demo.yaml"


def planned_sim(tmp_path, monkeypatch, *extra):
    seen = {}

    def fake_start(preset, **kw):
        seen.update(preset=preset, **kw)
        raise RuntimeError("stop here")

    monkeypatch.setattr(app.rig, "start_sim_rig", fake_start)
    parser = argparse.ArgumentParser()
    runcmd.register(parser.add_subparsers())
    args = parser.parse_args(["run", str(DEMO), "--sim", "--yes", "--seed", "3",
                              "--out", str(tmp_path / "x.h5"), *extra])
    plan = runcmd.plan_run(args)
    with pytest.raises(RuntimeError):
        plan.rig_factory(None)
    seen.pop("on_command", None)
    return seen


def test_group_never_changes_the_simulated_muscle(tmp_path, monkeypatch):
    a = planned_sim(tmp_path, monkeypatch, "--group", "vehicle")
    b = planned_sim(tmp_path, monkeypatch, "--group", "Mg aspartate")
    c = planned_sim(tmp_path, monkeypatch)
    assert a == b == c and a["treatment_effect"] is None


def test_treatment_effect_kinds(tmp_path, monkeypatch):
    nmj = planned_sim(tmp_path, monkeypatch, "--treatment", "nmj-block:0.3")
    assert nmj["treatment_effect"]["nmj_block"] == 0.3
    con = planned_sim(tmp_path, monkeypatch, "--treatment", "contractile:0.85")
    assert con["treatment_effect"]["force"] == 0.85
    assert planned_sim(tmp_path, monkeypatch, "--treatment", "0.9")["treatment_effect"]["force"] == 0.9


@pytest.mark.parametrize("bad", ["nmj-block:2", "strong", "contractile:0"])
def test_bad_treatment_is_one_line(bad, capsys):
    from app.cli.main import main
    code = main(["run", str(DEMO), "--sim", "--yes", "--treatment", bad, "--out", "x.h5"])
    assert code == 1
    err = capsys.readouterr().err
    assert code != 0 and "--treatment" in err and "Traceback" not in err


def rig_file_effect(tmp_path, monkeypatch, *extra) -> object:
    """The treatment effect ``run --rig SIM.toml EXTRA`` starts the simulated muscle with."""
    import app.rig.connect
    seen = {}

    def fake_start(preset, **kw):
        seen.update(kw)
        raise RuntimeError("stop here")
    monkeypatch.setattr(app.rig.connect, "start_sim_rig", fake_start)
    rig = tmp_path / "sim-rig.toml"
    rig.write_text("[sim]\ntreatment_effect = 1.2\n")
    parser = argparse.ArgumentParser()
    runcmd.register(parser.add_subparsers())
    plan = runcmd.plan_run(parser.parse_args(["run", str(DEMO), "--rig", str(rig), "--yes",
                                              *extra]))
    with pytest.raises(RuntimeError):
        plan.rig_factory(None)
    return seen["treatment_effect"]


def test_a_simulated_rig_file_takes_treatment_and_a_study_s_effect(tmp_path, monkeypatch):
    """--treatment and a study's hidden effect reach a rig file's simulated muscle as
    they reach --sim's (before: the rig file's own factor, silently)."""
    from app.study.animals import validate_animal
    from app.study.operations import add_animals, init_study, randomise
    from app.study.run_link import study_session
    out = ["--out", str(tmp_path / "x.h5")]
    assert rig_file_effect(tmp_path, monkeypatch, *out) == 1.2
    assert rig_file_effect(tmp_path, monkeypatch, "--treatment", "0.7", *out)["force"] == 0.7
    study = init_study(tmp_path / "s", "rig file study", ["baseline"])
    add_animals(study, [validate_animal({"id": "R01", "sex": "male"}, "t"),
                        validate_animal({"id": "R02", "sex": "male"}, "t")])
    randomise(study, seed=1)
    effect = rig_file_effect(tmp_path, monkeypatch, "--study", str(study.root), "--animal", "R01")
    assert effect == study_session(study.root, "R01", None).sim_effect
