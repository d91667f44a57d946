"""Crash safety: a recording process killed with SIGKILL at a random moment.

Each run starts a producer that records 10 kHz in 10 ms blocks in real time and prints
how far it got; the test kills it with SIGKILL at a random moment and checks that the
file opens (complete=false), holds exactly the produced samples up to the last flush
(at most 0.5 s lost), verifies, and recovers into a clean file. The input file is never
modified.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.cli.main import main
from app.recorder import open_session
from tests.helpers_recording import expected_pulses, periodic_flags, ramp_force

REPO = Path(__file__).resolve().parents[1]
RATE = 10_000.0
PROGRESS = re.compile(r"progress produced=(\d+) written=(\d+) flushed=(\d+) trials=(\d+)")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record_and_kill(path: Path, kill_after_s: float) -> tuple[int, int]:
    """Run the producer, SIGKILL it ``kill_after_s`` after its first flush; return the
    last (produced, flushed) it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers_recording", "produce", str(path),
         "--flush", "0.1", "--seconds", "60"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = None
        for line in proc.stdout:
            m = PROGRESS.match(line)
            if m and started is None and int(m.group(3)) > 0:
                started = time.monotonic()
            if started is not None and time.monotonic() - started >= kill_after_s:
                break
        os.kill(proc.pid, signal.SIGKILL)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    matches = [m for m in (PROGRESS.match(x) for x in (line + rest).splitlines()) if m]
    last = matches[-1]
    return int(last.group(1)), int(last.group(3))


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
@pytest.mark.parametrize("run", range(4))
def test_sigkill_at_a_random_moment(tmp_path, capsys, run):
    seed = int.from_bytes(os.urandom(4), "little")
    kill_after = random.Random(seed).uniform(0.05, 1.0)
    path = tmp_path / "crash.h5"
    produced, flushed = _record_and_kill(path, kill_after)
    context = f"seed={seed} kill_after={kill_after:.3f}s produced={produced} flushed={flushed}"

    code, out, err = _cli(capsys, "info", "--json", str(path))
    assert code == 0, err
    info = json.loads(out)
    assert info["complete"] is False and info["status"] == "recording", context
    n = info["samples"]
    assert n >= flushed, context                             # every flushed sample is there
    assert produced - n <= 0.5 * RATE, context               # at most 0.5 s lost
    assert info["duration_s"] == pytest.approx(n / RATE)

    with open_session(path) as sf:
        np.testing.assert_array_equal(sf.force[:n], ramp_force(0, n), err_msg=context)
        np.testing.assert_array_equal(sf.flags[:n], periodic_flags(0, n), err_msg=context)
        pulses = sf.pulse_samples
        expected = expected_pulses(n)
        np.testing.assert_array_equal(pulses, expected[:pulses.size], err_msg=context)
        assert pulses.size >= expected_pulses(flushed).size - 1, context
        for r in sf.trial_records:
            assert (r.start_sample, r.stop_sample) == (r.index * 2500, r.index * 2500 + 2500)

    before = _sha(path)
    code, out, err = _cli(capsys, "verify", str(path))
    assert code == 0 and out.startswith("OK "), (context, out, err)

    recovered = tmp_path / "recovered.h5"
    code, out, err = _cli(capsys, "recover", str(path), str(recovered))
    assert code == 0, (context, err)
    assert _sha(path) == before                             # the input is never modified
    code, out, err = _cli(capsys, "info", "--json", str(recovered))
    rinfo = json.loads(out)
    assert rinfo["complete"] is True and rinfo["status"] == "recovered"
    assert rinfo["recovered_from"] == str(path.resolve())
    assert flushed <= rinfo["samples"] <= n, context
    code, out, err = _cli(capsys, "verify", str(recovered))
    assert code == 0 and out.startswith("OK ") and "complete," in out, (context, out, err)
    with open_session(recovered) as sf:
        np.testing.assert_array_equal(sf.force[:], ramp_force(0, sf.samples))
        assert sf.audit[-1].kind == "recovery"
    if run == 0:   # once through the installed entry point, in a fresh process
        exe = Path(sys.executable).with_name("myoforce")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli.main"]
        done = subprocess.run(cmd + ["info", "--json", str(path)], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["complete"] is False
        h5dump = subprocess.run(["which", "h5dump"], capture_output=True, text=True)
        if h5dump.returncode == 0:   # HDF5 1.10 tools open the recovered file
            d = subprocess.run(["h5dump", "-H", str(recovered)], capture_output=True)
            assert d.returncode == 0, d.stderr
