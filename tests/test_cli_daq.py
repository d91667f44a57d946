"""``myoforce run --sim daq``: a protocol end to end on the simulated DAQ rig, every pulse
marked at the sample the board generated it; bad DAQ rig files refused in one line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from app.recorder.reader import load_recording, open_session
from drivers.capabilities import StimulusSpec
from drivers.daq.signals import pulse_train
from protocols import LIBRARY
from tests.test_daq_sim import MONITOR_RIG, SHORT

DEMO = LIBRARY / "protocol1-demo.yaml"

ROOT = Path(__file__).resolve().parents[1]


def _command() -> list[str]:
    script = Path(sys.executable).parent / "myoforce"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli.main"]


def test_protocol1_on_the_sim_daq_rig_marks_every_pulse_at_its_generated_sample(tmp_path):
    """Protocol 1 (demo timing) end to end through the DAQ force source and stimulator."""
    out = tmp_path / "s.h5"
    proc = subprocess.run(_command() + ["run", str(DEMO), "--sim", "daq", "--yes", "--seed", "5",
                                        "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "simulated DAQ rig" in proc.stdout and "completed: 33 trials" in proc.stdout
    with open_session(out) as s:
        fired = [int(e.message.split()[-1]) for e in s.audit
                 if e.kind == "stimulator-command" and e.message.startswith("FIRE at sample")]
        pulses = s.pulse_samples
        trials = s.trial_records
        devices = s.devices
        rate = s.sample_rate_hz
        aux = [c["name"] for c in s.aux_channels]
        assert all(s.aux(name).shape[0] == s.samples for name in aux)
        current = s.aux("stim_current")[:]
    # every pulse the board generated, at its sample: each train's first sample (FIRE)
    # plus the train's pulse offsets on the sample grid
    expected = []
    for t, first in zip(trials, fired):
        spec = StimulusSpec(t.current_mA, t.pulse_width_ms, t.pulses,
                            None if t.pulses == 1 else t.frequency_hz)
        expected.extend(first + pulse_train(spec, rate, 1.0, 10.0).pulse_offsets)
    assert len(trials) == len(fired) == 33
    assert [t.first_pulse_sample for t in trials] == fired
    assert list(pulses) == expected
    assert all(t.status == "completed" for t in trials)
    assert "NI-DAQmx USB-6363 (simulated)" in devices["amplifier"]
    assert "isolator" in devices["stimulator"]
    # auxiliary channels recorded beside force: the isolator current reads what was asked
    assert aux == ["emg", "length", "stim_current"]
    assert abs(float(np.nanmax(current)) - max(t.current_mA for t in trials)) < 0.01
    info = subprocess.run(_command() + ["info", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert "aux stim_current" in info.stdout and "mA" in info.stdout
    # analysis as on the serial rig; saturation limits from the DAQ input range (+-10 V)
    rec = load_recording(out)
    lo, hi = rec.force_limits_mN
    assert abs((hi - lo) - 2 * 10.0 * 2000.0) < 1.0
    analysed = subprocess.run(_command() + ["analyze", str(out)], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
    assert analysed.returncode == 0 and "Pt" in analysed.stdout and "Po" in analysed.stdout


def test_bad_daq_rig_file_is_one_line_and_nothing_is_written(tmp_path):
    protocol = tmp_path / "short.yaml"
    protocol.write_text(SHORT)
    rig = tmp_path / "rig.toml"
    rig.write_text(MONITOR_RIG.replace('channel = "ai0"', 'channel = "ai77"'))
    out = tmp_path / "s.h5"
    proc = subprocess.run(_command() + ["run", str(protocol), "--rig", str(rig), "--yes",
                                        "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "daq.force.channel: SimDev1/ai77 does not exist" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_a_pulse_width_off_the_board_sample_grid_is_refused_before_anything_starts(tmp_path):
    protocol = tmp_path / "odd.yaml"
    protocol.write_text(SHORT.replace("pulse_width_ms: 0.2", "pulse_width_ms: 0.25"))
    out = tmp_path / "s.h5"
    proc = subprocess.run(_command() + ["run", str(protocol), "--sim", "daq", "--yes",
                                        "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "pulse_width_ms: pulse width 0.25 ms is 2.5 samples at 10000 Hz" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
    # the serial rig's stimulator times pulses itself: the same protocol is fine there
    from app.run_plan import RigSettings, protocol_problems
    from protocols.loader import parse_protocol
    spec = parse_protocol(protocol.read_text(), source="odd.yaml")
    assert protocol_problems(spec, RigSettings()) == []
    assert len(protocol_problems(spec, RigSettings(stimulus_sample_rate_hz=10000.0))) == 1
