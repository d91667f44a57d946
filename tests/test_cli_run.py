"""``myoforce run``: the demo protocol end to end on the simulated rig, and every way the
command refuses to start (nothing stimulated), answers prompts, and aborts on Ctrl-C."""
from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.analysis import analyze_recording
from app.cli.main import main
from app.recorder.reader import load_recording, open_session, session_info
from drivers.capabilities import StimulusSpec
from protocols import LIBRARY
from protocols.loader import load_protocol
from sim_devices.rig import SimRig
from tests.test_protocol_schema import INVALID

ROOT = Path(__file__).resolve().parents[1]
DEMO = LIBRARY / "protocol1-demo.yaml"


def _command() -> list[str]:
    script = Path(sys.executable).parent / "myoforce"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "app.cli.main"]  # pragma: no cover


def _expected_pulses(protocol, step_name: str, occurrence: int) -> int:
    """Pulses the protocol asks for in the ``occurrence``-th trial of a step."""
    index = next(i for i in range(len(protocol.steps)) if protocol.step_name(i) == step_name)
    step = protocol.steps[index]
    pw = protocol.pulse_width_ms
    if step.kind in ("supramaximal", "optimal_length", "twitch"):
        return 1
    if step.kind == "force_frequency":
        return StimulusSpec.train(1.0, pw, step.frequencies_hz[occurrence], step.duration_ms).pulses
    return StimulusSpec.train(1.0, pw, step.frequency_hz, step.duration_ms).pulses


# =========================================================================== the demo

def test_demo_protocol_runs_end_to_end_on_the_sim_rig(tmp_path):
    out = tmp_path / "s.h5"
    started = time.monotonic()
    proc = subprocess.run(
        _command() + ["run", str(DEMO), "--sim", "--yes", "--out", str(out), "--subject", "demo-01",
                      "--group", "vehicle", "--muscle", "EDL", "--seed", "1", "--body-mass-g", "310",
                      "--muscle-mass-mg", "160"],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    wall = time.monotonic() - started
    print(f"\ndemo run wall time (startup included): {wall:.1f} s")   # reported, not asserted
    assert proc.returncode == 0, proc.stderr
    assert "Results" in proc.stdout and "completed: " in proc.stdout
    assert "working current" in proc.stdout and "Lo " in proc.stdout

    info = session_info(out)
    assert info["complete"] and info["status"] == "complete"
    assert info["metadata"]["muscle"] == "EDL" and info["metadata"]["subject_id"] == "demo-01"
    assert info["metadata"]["body_mass_g"] == 310 and info["metadata"]["group"] == "vehicle"
    assert info["gap_samples"] == 0 and info["aborted_trials"] == 0

    protocol = load_protocol(DEMO)
    recording = load_recording(out)
    seen: dict[str, int] = {}
    for trial in recording.trials:          # stimulus markers: exactly the pulses requested
        k = seen.get(trial.step, 0)
        seen[trial.step] = k + 1
        assert trial.pulses == _expected_pulses(protocol, trial.step, k), trial
        assert trial.start_sample < trial.first_stim_sample < trial.stop_sample
        assert np.all(np.isin(trial.stim_samples, recording.stim_samples))
    assert seen["twitches"] == 3 and seen["tetani"] == 1 and seen["force-frequency"] == 8
    assert seen["fatigue"] == 8 and seen["optimal-length"] == 5 and seen["supramaximal"] >= 4

    with open_session(out) as sf:           # every step kind ran
        started_kinds = {json.loads(e.fields).get("step_kind") for e in sf.audit
                         if e.kind == "step-started"}
        commands = [e.message for e in sf.audit if e.kind == "stimulator-command"]
        analyses = {a["name"].split()[2] for a in sf.analysis if a["name"].startswith("step ")}
    assert started_kinds == {s.kind for s in protocol.steps}
    assert commands.count("*TRG") == len(recording.trials) and "*IDN?" in commands
    assert commands[-1] in ("OUTP OFF", "OUTP?")
    assert {"supramaximal", "optimal_length", "fatigue"} <= analyses

    # the analysis: Pt, TPT, 1/2RT and Po in the rat EDL's range (see sim_devices/muscle/presets.py)
    result = analyze_recording(recording)
    # every contraction of a clean simulated run is measured; if one is not, say which and why
    # (the potentiation check below depends on the first twitch after the tetanus)
    unmeasured = [(t.index, t.step, t.error) for t in result.trials if not t.ok]
    assert not unmeasured, f"trials not measured: {unmeasured}\n{proc.stdout[-4000:]}"
    by_index = {t.index: t for t in result.trials}
    twitches = [by_index[t.index] for t in recording.trials if t.step == "twitches"]
    tetani = [by_index[t.index] for t in recording.trials if t.step == "tetani"]
    pt = float(np.mean([t.peak_force_mN for t in twitches]))
    po = max(t.peak_force_mN for t in tetani)
    for t in twitches:
        assert 10.0 <= t.time_to_peak_ms <= 20.0
        assert 10.0 <= t.half_relaxation_ms <= 20.0
    assert 2000.0 <= po <= 3000.0
    assert 0.2 <= pt / po <= 0.3
    # specific force in every Protocol 1 session: mass given, Lo recorded by its step
    s = result.summary
    assert info["metadata_revisions"][0]["source"] == "optimal-length step"
    assert s.muscle_length_mm == info["metadata"]["muscle_length_mm"] and s.muscle_mass_mg == 160
    assert 15.0 < s.specific_force_N_per_cm2 < 35.0
    # session Pt = the twitch step before the first tetanus; the fast muscle potentiates
    assert s.pt_trials == [t.index for t in twitches] and s.pt_mN == pytest.approx(pt)
    assert s.ptp_ratio > 1.1
    assert not any(f.rule.how == "refused" for t in twitches for f in t.flags)


# =========================================================================== refusals

@pytest.fixture(scope="module")
def sim():
    rig = SimRig.start("rat-edl", seed=5)
    yield rig
    rig.close()


def _run(argv, capsys) -> tuple[int, str, str]:
    code = main(["run", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("index", range(len(INVALID)))
def test_an_invalid_protocol_is_refused_before_connecting(index, sim, tmp_path, capsys):
    text, words = INVALID[index]
    path = tmp_path / f"bad{index}.yaml"
    path.write_text(text)
    out = tmp_path / "never.h5"
    code, _, err = _run([str(path), "--amplifier", sim.amplifier_port, "--stimulator",
                         sim.stimulator_resource, "--yes", "--out", str(out)], capsys)
    assert code == 1
    lines = err.strip().splitlines()      # one line per problem, each naming the file
    assert lines and all(line.startswith(f"myoforce run: bad{index}.yaml: ") for line in lines)
    for word in words:
        assert word in err
    assert not out.exists()


def test_refused_protocols_never_reached_the_stimulator(sim):
    """Runs after the parametrized refusals above (same module-scoped rig)."""
    commands = sim.stimulator_device.commands
    assert "*TRG" not in commands and "OUTP ON" not in commands
    assert commands == [] and sim.stimulator_device.bursts == []
    assert sim.world.pending_pulses() == 0


def test_no_terminal_and_no_yes_fails_before_stimulating(sim, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = _run([str(DEMO), "--amplifier", sim.amplifier_port, "--stimulator",
                         sim.stimulator_resource, "--out", str(tmp_path / "x.h5")], capsys)
    assert code == 1
    assert "step [3/10] optimal-length (optimal_length)" in err and "--yes" in err and "not a terminal" in err
    assert sim.stimulator_device.commands == []


@pytest.mark.parametrize("argv,words", [
    ([str(DEMO), "--out", "X"], ["no rig was given", "--sim"]),
    ([str(DEMO), "--sim", "--rig", "r.toml", "--out", "X"], ["--sim and --rig"]),
    ([str(DEMO), "--amplifier", "/dev/null", "--out", "X"], ["--stimulator RESOURCE is needed"]),
    ([str(DEMO), "--sim", "--muscle", "biceps", "--out", "X"], ["--muscle", "unknown muscle 'biceps'"]),
    ([str(DEMO), "--sim", "--body-mass-g", "-3", "--out", "X"], ["--body-mass-g", "must be > 0", "'-3'"]),
    ([str(DEMO), "--sim", "--dose-mg-per-kg", "lots", "--out", "X"], ["--dose-mg-per-kg", "'lots'"]),
    ([str(DEMO), "--sim", "--sample-rate", "12345", "--out", "X"], ["--sample-rate 12345"]),
    ([str(DEMO), "--amplifier", "a", "--stimulator", "b", "--seed", "3", "--out", "X"],
     ["--seed and --treatment apply to a simulated rig only"]),
    (["missing.yaml", "--sim", "--out", "X"], ["missing.yaml: no such protocol file"]),
    ([str(DEMO), "--rig", "nope.toml", "--out", "X"], ["nope.toml: no such rig file"]),
    ([str(DEMO), "--sim", "--out", "EXISTS"], ["file exists", "--overwrite"]),
    ([str(DEMO), "--sim", "--out", "nodir/x.h5"], ["no such directory"]),
])
def test_argument_mistakes_are_one_line(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "EXISTS").write_bytes(b"")
    code, _, err = _run(argv, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("myoforce run: "), err
    for word in words:
        assert word in lines[0], lines[0]


def test_rig_file_limits_apply_and_a_sim_rig_file_runs(tmp_path, capsys):
    rig = tmp_path / "rig.toml"
    rig.write_text('name = "bench"\n[amplifier]\nsample_rate_hz = 5000\ntare_samples = 200\n'
                   '[limits]\nmax_frequency_hz = 150\nmin_rest_after_tetanus_s = 0.5\n'
                   '[sim]\nmuscle = "soleus"\nseed = 2\n')
    bad = tmp_path / "fast.yaml"
    bad.write_text("name: fast\nsteps:\n  - {kind: tetanus, frequency_hz: 200, duration_ms: 300, "
                   "rest_s: 1, current_mA: 4}\n")
    code, _, err = _run([str(bad), "--rig", str(rig), "--yes", "--out", str(tmp_path / "a.h5")], capsys)
    assert code == 1
    assert "fast.yaml: [1/1] tetanus-1 (tetanus) frequency_hz: 200 Hz exceeds the rig limit of 150 Hz" in err

    good = tmp_path / "ok.yaml"
    good.write_text("name: ok\nwindows: {twitch_post_ms: 150, tetanus_post_ms: 150}\nsteps:\n"
                    "  - {kind: twitch, count: 2, interval_s: 0.2, current_mA: 4}\n"
                    "  - {kind: tetanus, frequency_hz: 100, duration_ms: 200, rest_s: 0.5, current_mA: 4}\n")
    out = tmp_path / "b.h5"
    code, stdout, err = _run([str(good), "--rig", str(rig), "--yes", "--out", str(out)], capsys)
    assert code == 0, err
    info = session_info(out)
    assert info["rig"]["name"] == "bench" and info["rig"]["sim"]["muscle"] == "rat-soleus"
    assert info["metadata"]["muscle"] == "soleus" and info["sample_rate_hz"] == 5000
    assert info["trials"] == 3 and info["pulses"] == 2 + 20
    assert "+-" in stdout and "Pt/Po mN" in stdout      # the plain (non-terminal) table


# =========================================================================== a terminal

def _read_until(fd: int, needle: str, timeout: float, sink: list[str]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096).decode(errors="replace")
            except OSError:
                return needle in "".join(sink)
            if not chunk:
                break
            sink.append(chunk)
            if needle in "".join(sink):
                return True
    return needle in "".join(sink)


def test_prompts_are_answered_on_the_terminal(tmp_path):
    protocol = tmp_path / "ask.yaml"
    protocol.write_text(
        "name: ask\nwindows: {twitch_post_ms: 150}\nsteps:\n"
        "  - {kind: prompt, id: length, text: Set the muscle length, request: length_mm, default: 30}\n"
        "  - {kind: twitch, count: 1, interval_s: 0.1, current_mA: 3}\n")
    out = tmp_path / "ask.h5"
    master, slave = pty.openpty()
    proc = subprocess.Popen(_command() + ["run", str(protocol), "--sim", "--sample-rate", "5000",
                                          "--out", str(out)],
                            cwd=ROOT, stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    seen: list[str] = []
    try:
        assert _read_until(master, "Set the muscle length", 30, seen), "".join(seen)
        os.write(master, b"31.5\n")
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    trial = load_recording(out).trials[0]
    assert trial.length_mm == 31.5 and trial.pulses == 1


def test_a_line_typed_during_the_run_is_a_comment_at_the_current_sample(tmp_path):
    """On a terminal (here with --yes: no prompt to answer) a typed line is the operator's
    comment, said back; one the core refuses is said so, and nothing else is written."""
    protocol = tmp_path / "notes.yaml"
    protocol.write_text(
        "name: notes\nwindows: {twitch_post_ms: 150}\nsteps:\n"
        "  - {kind: twitch, count: 1, interval_s: 0.1, current_mA: 3}\n"
        "  - {kind: rest, duration_s: 4}\n"
        "  - {kind: twitch, count: 1, interval_s: 0.1, current_mA: 3}\n")
    out = tmp_path / "notes.h5"
    master, slave = pty.openpty()
    proc = subprocess.Popen(_command() + ["run", str(protocol), "--sim", "--yes",
                                          "--sample-rate", "5000", "--out", str(out)],
                            cwd=ROOT, stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    seen: list[str] = []
    try:
        assert _read_until(master, "type a comment", 30, seen), "".join(seen)
        assert _read_until(master, "(twitch)", 30, seen), "".join(seen)
        os.write(master, b"re-tied tendon\n")
        assert _read_until(master, "comment at", 10, seen), "".join(seen)
        os.write(master, b"x" * 250 + b"\n")
        assert _read_until(master, "comment not saved", 10, seen), "".join(seen)
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = " ".join("".join(seen).split())      # the terminal wraps long lines
    assert "comment at" in text and "re-tied tendon" in text
    assert "comment not saved: comment is 250 characters long" in text, text[-600:]
    with open_session(out) as sf:
        comments = sf.comments
    assert [c.text for c in comments] == ["re-tied tendon"]
    trials = load_recording(out).trials
    # at the stream's sample when it was typed: during the run, before the second twitch
    assert 0 < comments[0].sample < trials[1].first_stim_sample
    assert comments[0].source == "operator" and not comments[0].added_afterwards


def test_ctrl_c_aborts_safely(tmp_path):
    protocol = tmp_path / "long.yaml"
    protocol.write_text("name: long\nsteps:\n"
                        "  - {kind: tetanus, frequency_hz: 100, duration_ms: 1500, count: 3, rest_s: 5, "
                        "current_mA: 3}\n")
    out = tmp_path / "c.h5"
    proc = subprocess.Popen(_command() + ["run", str(protocol), "--sim", "--yes", "--sample-rate", "5000",
                                          "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while "(tetanus)" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert "(tetanus)" in line
        time.sleep(0.5)                       # inside the first train
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "aborted with Ctrl-C" in err and "stimulator output off" in err
    info = session_info(out)
    assert info["complete"] and info["status"] == "aborted"
    assert info["trials"] == 1 and info["aborted_trials"] == 1
    with open_session(out) as sf:
        commands = [e.message for e in sf.audit if e.kind == "stimulator-command"]
    assert "ABOR" in commands and commands[-1] in ("OUTP OFF", "OUTP?")


def test_help_mentions_the_muscle_mapping(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "EDL, soleus, quadriceps" in text and "--dose-mg-per-kg" in text
