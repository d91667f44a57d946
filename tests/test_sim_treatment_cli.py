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
