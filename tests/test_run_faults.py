"""Faults contained (issue 9, item 4): a device that dies or stops answering mid-run ends
the run with ONE line on the terminal (details in the log file and the audit table,
never a traceback), the run ends within a second of the fault being detected (printed
in the test's log, not asserted), and a second Ctrl-C cannot take the safety summary."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.recorder.reader import open_session, session_info

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "protocols" / "library" / "protocol1-demo.yaml"

#: runs `myoforce ARGS` with the simulated devices killed (or stalled) after a delay
WRAPPER = textwrap.dedent('''
    import sys, threading, time
    import app.rig as rig_package
    import app.rig.connect as connect
    original = connect.start_sim_rig
    fault, delay = sys.argv[1], float(sys.argv[2])
    def with_fault(*args, **kwargs):
        rig = original(*args, **kwargs)
        def strike():
            time.sleep(delay)
            if fault == "kill":
                rig.sim.close()
            else:
                rig.sim.stimulator_device.faults.stall = True
        threading.Thread(target=strike, daemon=True).start()
        return rig
    connect.start_sim_rig = rig_package.start_sim_rig = with_fault
    from app.cli.main import main
    sys.exit(main(sys.argv[3:]))
''')


def _run_with_fault(tmp_path: Path, fault: str, delay_s: float) -> tuple[subprocess.CompletedProcess, Path, Path]:
    script = tmp_path / "fault.py"
    script.write_text(WRAPPER)
    out, log = tmp_path / f"{fault}.h5", tmp_path / f"{fault}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MYOFORCE_LOG": str(log)}
    started = time.monotonic()
    r = subprocess.run([sys.executable, str(script), fault, str(delay_s), "run", str(DEMO), "--sim",
                        "--yes", "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    print(f"{fault} after {delay_s} s: run ended after {time.monotonic() - started:.2f} s in all")
    return r, out, log


@pytest.mark.parametrize("fault", ["kill", "stall"])
def test_a_device_fault_is_one_line_on_the_terminal_and_details_in_the_log(tmp_path, fault):
    r, out, log = _run_with_fault(tmp_path, fault, 2.5)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr
    assert lines[0].startswith("myoforce run: failed: ") and f"details in {log}" in lines[0]
    assert "stimulator output" in lines[0] and "data kept in" in lines[0]
    if fault == "stall":
        assert "NOT confirmed" in lines[0] or "output off" in lines[0]
    text = log.read_text()
    assert "stimulator" in text                            # the details went to the log file
    info = session_info(out)
    assert info["complete"] and info["status"] == "aborted"
    with open_session(out) as sf:
        kinds = {e.kind for e in sf.audit}
        status = [e for e in sf.audit if e.kind == "run-status"]
    assert status and "failed" in status[-1].fields
    if fault == "kill":
        assert "fault" in kinds                              # teardown faults in the audit table


def test_the_stall_exit_time_is_logged(tmp_path):
    """From the first query timing out to the process exiting: printed, not asserted
    (bench/bench_safety_attacks.py measures it; target <= 1 s)."""
    r, out, log = _run_with_fault(tmp_path, "stall", 2.0)
    text = log.read_text()
    assert "does not answer" in text
    stamps = [line[:23] for line in text.splitlines() if "does not answer" in line]
    print(f"fault detected at {stamps[0]}; stderr: {r.stderr.strip()}")


@pytest.mark.parametrize("gap_s", [0.02, 0.1])
def test_a_second_ctrl_c_cannot_take_the_safety_summary(tmp_path, gap_s):
    out = tmp_path / "i.h5"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MYOFORCE_LOG": str(tmp_path / "run.log")}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "run", str(DEMO), "--sim", "--yes",
                             "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line, deadline = "", time.monotonic() + 30
        while "(supramaximal)" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        time.sleep(gap_s)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "myoforce: interrupted" not in err
    summary = [x for x in err.splitlines() if x.startswith("myoforce run: aborted with Ctrl-C")]
    assert summary and "stimulator output off" in summary[0] and "data kept in" in summary[0]
    assert session_info(out)["status"] == "aborted"
