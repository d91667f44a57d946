"""The run plan (app.run_plan): one set of rules for the command line and the GUI.

Every protocol of the invalid-protocol suite, and each case of issue 9, is refused by
the GUI's path (protocol panel -> Experiment.start) with the same lines as by
``myoforce run``, and nothing is stimulated; a plan lists every problem at once."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from app.cli.main import main
from app.live.experiment import Experiment
from app.metadata import SessionMetadata
from app.rig import parse_rig
from app.run_plan import PlanRefused, RigSettings, RunRequest, make_plan, protocol_problems
from drivers.limits import StimulusLimits
from protocols import LIBRARY
from protocols.loader import parse_protocol
from tests.gui_fakes import fake_rig
from tests.test_protocol_schema import HEAD, INVALID, SUPRA

#: a simulated rig with a 5 s minimum rest after a train (issue 9's example)
STRICT_RIG = "name = 'strict'\n[sim]\nmuscle = 'rat-edl'\n[limits]\nmin_rest_after_tetanus_s = 5\n"

#: the cases of issue 9: each refused on the strict rig
ISSUE_CASES = [
    SUPRA + "  - {kind: tetanus, frequency_hz: 100, duration_ms: 300, count: 3, rest_s: 0}\n",
    SUPRA + "  - {kind: tetanus, frequency_hz: 400, duration_ms: 300, rest_s: 10}\n",
    SUPRA + "  - {kind: tetanus, frequency_hz: 1000, duration_ms: 300, rest_s: 10}\n",
    SUPRA + "  - {kind: tetanus, frequency_hz: 100, duration_ms: 60000, rest_s: 10}\n",
    "  - {kind: supramaximal, start_mA: 0.5, step_mA: 0.5, max_mA: 100, interval_s: 1}\n",
    SUPRA + "  - {kind: twitch, count: 1, interval_s: 1, pulse_width_ms: 5}\n",
    SUPRA + "  - {kind: tetanus, frequency_hz: 1.75, duration_ms: 2000, rest_s: 10}\n",
    SUPRA + "  - {kind: twitch, count: 150, interval_s: 0.001}\n",
    SUPRA + "  - {kind: fatigue, frequency_hz: 250, duration_ms: 2000, interval_s: 7, trains: 5}\n",
]

CASES = [(text, None) for text, _ in INVALID] + [(HEAD + body, STRICT_RIG) for body in ISSUE_CASES]


class _NeverSession:
    """A session factory that records being called: it must never be."""

    calls: list = []

    def __init__(self, **kw) -> None:
        _NeverSession.calls.append(kw)

    def subscribe(self, cb):
        return lambda: None

    def run(self):
        return None


def _cli_lines(capsys, protocol: Path, rig: Path | None, out: Path) -> list[str]:
    rig_args = ["--rig", str(rig)] if rig is not None else ["--sim"]
    code = main(["run", str(protocol), *rig_args, "--yes", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert all(line.startswith("myoforce run: ") for line in lines)
    return [line.removeprefix("myoforce run: ") for line in lines]


def _gui_lines(qtbot, protocol: Path, settings: RigSettings, out: Path) -> tuple[list[str], object]:
    """What the GUI says: the panel's refusal of the file, else Experiment.start's."""
    from app.gui.protocol_panel import ProtocolPanel

    panel = ProtocolPanel()
    qtbot.addWidget(panel)
    panel.set_rig(settings)
    rig = fake_rig()
    if not panel.load(protocol):
        return panel.message.text().split("\n"), rig
    assert not panel.runnable               # Run stays disabled: the problems are shown
    shown = panel.message.text().split("\n")[1:]
    exp = Experiment(ring_seconds=2)
    exp.attach(rig, settings)
    try:
        with pytest.raises(PlanRefused) as info:
            exp.start(panel.protocol, out, SessionMetadata(), session_factory=_NeverSession,
                      protocol_text=panel.protocol_text, protocol_source=panel.source)
    finally:
        exp.close()
    assert shown == info.value.problems
    return info.value.problems, rig


@pytest.mark.parametrize("text,rig_text", CASES, ids=[f"case-{i}" for i in range(len(CASES))])
def test_the_gui_refuses_with_the_cli_message_and_stimulates_nothing(text, rig_text, tmp_path,
                                                                     capsys, qtbot):
    protocol = tmp_path / "bad.yaml"
    protocol.write_text(textwrap.dedent(text))
    rig_file = None
    settings = RigSettings(simulated=True, isolator_gain_mA_per_V=1.0, max_output_V=10.0)
    if rig_text is not None:
        rig_file = tmp_path / "rig.toml"
        rig_file.write_text(rig_text)
        settings = RigSettings.from_config(parse_rig(rig_text), rig_file)
    cli = _cli_lines(capsys, protocol, rig_file, tmp_path / "cli.h5")
    _NeverSession.calls.clear()
    gui, rig = _gui_lines(qtbot, protocol, settings, tmp_path / "gui.h5")
    assert gui == cli
    assert _NeverSession.calls == [] and rig.stimulator.fired == 0
    assert not (tmp_path / "cli.h5").exists() and not (tmp_path / "gui.h5").exists()


def test_a_plan_lists_every_problem_at_once(tmp_path):
    protocol = tmp_path / "p.yaml"
    protocol.write_text(HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 500, duration_ms: 300, "
                                       "rest_s: 0}\n")
    (tmp_path / "exists.h5").write_bytes(b"")
    with pytest.raises(PlanRefused) as info:
        make_plan(RunRequest(rig=RigSettings(), out=tmp_path / "exists.h5", protocol_path=protocol,
                             metadata={"body_mass_g": -3, "muscle_length_mm": float("inf")}))
    problems = info.value.problems
    assert str(info.value).split("\n") == problems
    assert any("frequency_hz" in p for p in problems) and any("rest_s" in p for p in problems)
    assert any("body_mass_g" in p and "> 0" in p for p in problems)
    assert any("muscle_length_mm" in p and "finite" in p for p in problems)
    assert any("file exists" in p for p in problems)
    assert all("more problem" not in p for p in problems)


def test_an_accepted_plan_carries_the_rig_files_tare_and_the_muscle(tmp_path):
    rig_text = "name = 'r'\n[amplifier]\ntare_samples = 250\n[sim]\nmuscle = 'soleus'\n"
    rig_file = tmp_path / "rig.toml"
    rig_file.write_text(rig_text)
    settings = RigSettings.from_config(parse_rig(rig_text), rig_file)
    plan = make_plan(RunRequest(rig=settings, out=tmp_path / "s.h5",
                                protocol_path=LIBRARY / "protocol1-demo.yaml",
                                metadata={"subject_id": "rat-01"}))
    assert plan.tare_samples == 250 and plan.preset == "rat-soleus"
    assert plan.metadata.muscle == "soleus" and plan.metadata.subject_id == "rat-01"
    # the recording may never replace the rig file
    with pytest.raises(PlanRefused, match="input files"):
        make_plan(RunRequest(rig=settings, out=rig_file, overwrite=True,
                             protocol_path=LIBRARY / "protocol1-demo.yaml"))


def test_the_gui_session_gets_the_rig_files_tare(tmp_path):
    rig_text = "name = 'r'\n[amplifier]\ntare_samples = 250\n[sim]\n"
    settings = RigSettings.from_config(parse_rig(rig_text))
    exp = Experiment(ring_seconds=2)
    exp.attach(fake_rig(), settings)
    protocol = parse_protocol(HEAD + SUPRA, source="p.yaml")
    _NeverSession.calls.clear()
    try:
        exp.start(protocol, tmp_path / "s.h5", SessionMetadata(), session_factory=_NeverSession)
        exp.wait(5)
    finally:
        exp.close()
    assert _NeverSession.calls and _NeverSession.calls[0]["tare_samples"] == 250


def test_rig_settings_from_a_connected_rig_use_the_drivers_limits():
    rig = fake_rig()
    rig.stimulator.limits = StimulusLimits(max_frequency_hz=100)
    settings = RigSettings.from_rig(rig)
    protocol = parse_protocol(HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 150, "
                                             "duration_ms: 300, rest_s: 5}\n", source="p.yaml")
    problems = protocol_problems(protocol, settings, source="p.yaml")
    assert problems == ["p.yaml: [2/2] tetanus-2 (tetanus) frequency_hz: 150 Hz exceeds the rig "
                        "limit of 100 Hz"]


def test_the_protocol_editor_shows_problems_and_keeps_run_disabled(qtbot, tmp_path):
    from app.gui.protocol_panel import ProtocolPanel

    path = tmp_path / "p.yaml"
    path.write_text(HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 100, duration_ms: 300, "
                                   "rest_s: 10}\n")
    panel = ProtocolPanel()
    qtbot.addWidget(panel)
    panel.set_limits(StimulusLimits(min_rest_after_tetanus_s=5.0))
    assert panel.load(path) and panel.runnable
    edits = [(("steps", 1, "rest_s"), "0", "rest_s"), (("steps", 1, "frequency_hz"), "1000", "frequency_hz"),
             (("steps", 1, "duration_ms"), "60000", "duration_ms"), (("steps", 0, "max_mA"), "100", "max_mA"),
             (("pulse_width_ms",), "5", "pulse_width_ms")]
    for where, value, field in edits:
        panel.load(path)
        panel.set_value(where, value)
        assert not panel.runnable, (where, value)
        if field is not None:
            assert field in panel.message.text()
    panel.load(path)           # 2000 ms at 1.75 Hz: 4 pulses lasting 2286 ms
    assert panel.set_value(("steps", 1, "duration_ms"), "2000") and panel.runnable
    panel.set_value(("steps", 1, "frequency_hz"), "1.75")
    assert not panel.runnable and "2286 ms" in panel.message.text()
    panel.load(path)
    with qtbot.waitSignal(panel.runnable_changed):
        panel.set_value(("steps", 1, "rest_s"), "1")
    assert not panel.runnable and "rest_s" in panel.problems[0]


def test_a_session_made_through_the_api_is_held_to_the_same_rules(tmp_path):
    """ExperimentSession without a run plan: the protocol is checked against the limits
    the connected stimulator enforces before anything is tared, recorded or stimulated."""
    from app.session import ExperimentSession

    rig = fake_rig()
    rig.stimulator.limits = StimulusLimits(min_rest_after_tetanus_s=5.0)
    protocol = parse_protocol(HEAD + ISSUE_CASES[0], source="p.yaml")
    session = ExperimentSession(protocol, rig, tmp_path / "api.h5", protocol_source="p.yaml")
    with pytest.raises(PlanRefused) as info:
        session.start()
    session.close()
    assert info.value.problems == protocol_problems(protocol, RigSettings.from_rig(rig), source="p.yaml")
    assert any("rest_s" in p for p in info.value.problems)
    assert rig.stimulator.fired == 0 and not (tmp_path / "api.h5").exists()


def test_a_runner_used_on_its_own_refuses_what_its_rig_refuses():
    """ProtocolRunner.start without a plan or session (the lowest API route)."""
    from protocols.engine import ProtocolRunner
    from protocols.loader import ProtocolFileError

    rig = fake_rig()
    rig.stimulator.limits = StimulusLimits()
    protocol = parse_protocol(HEAD + ISSUE_CASES[-2], source="p.yaml")   # 150 twitches 1 ms apart
    runner = ProtocolRunner(protocol, rig, analyzer=None)
    with pytest.raises(ProtocolFileError, match="interval_s"):
        runner.start()
    assert rig.stimulator.fired == 0


def test_the_gui_tare_button_uses_the_rig_files_tare_length():
    settings = RigSettings.from_config(parse_rig("name = 'r'\n[amplifier]\ntare_samples = 321\n[sim]\n"))
    exp = Experiment(ring_seconds=2)
    rig = fake_rig()
    asked = []
    original = rig.amplifier.tare
    rig.amplifier.tare = lambda samples=1000: asked.append(samples) or original(samples)
    exp.attach(rig, settings)
    try:
        exp.tare()
    finally:
        exp.close()
    assert asked == [321]
