"""Reading a session while it is being written (HDF5 SWMR), from another process and thread."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from app.errors import FileFormatError
from app.recorder import TrialRecord, load_recording, open_session, session_info
from tests.helpers_recording import open_recorder, ramp_block, ramp_force

REPO = Path(__file__).resolve().parents[1]
RATE = 10_000.0


def test_live_read_from_another_process(tmp_path):
    path = tmp_path / "live.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers_recording", "produce", str(path), "--flush", "0.1",
         "--seconds", "3", "--trial-every-s", "0.25"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:         # wait for the first flush
            try:
                if session_info(path)["samples"] > 0:
                    break
            except FileFormatError:
                pass
            time.sleep(0.05)
        seen: list[tuple[int, int]] = []
        opened: list[tuple[int, int, bool]] = []
        with open_session(path, live=True) as sf:
            while proc.poll() is None:
                sf.refresh()
                n = sf.samples
                seen.append((n, len(sf.trial_records)))
                np.testing.assert_array_equal(sf.force[max(0, n - 500):n],
                                              ramp_force(max(0, n - 500), min(n, 500)))
                info = session_info(path)                  # fresh opens while writing
                rec = load_recording(path)
                opened.append((info["samples"], len(rec.trials), info["complete"]))
                del rec     # a lazy Recording keeps the file open (and its attributes cached)
                time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(60)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    samples = [s for s, _ in seen]
    trials = [t for _, t in seen]
    assert samples == sorted(samples) and trials == sorted(trials)
    assert len(set(samples)) >= 3, seen                   # saw it grow while it was written
    assert len(set(trials)) >= 2, seen
    assert not all(c for _, _, c in opened)               # incomplete while being written
    assert len({s for s, _, _ in opened}) >= 2
    final = session_info(path)
    assert final["complete"] and final["samples"] == 30_000 and final["trials"] == 12


def test_live_read_from_another_thread(tmp_path):
    path = tmp_path / "thread.h5"
    rec = open_recorder(path, RATE, flush_interval_s=0.02)
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def reader():
        try:
            with open_session(path, live=True) as sf:
                while not stop.is_set():
                    sf.refresh()
                    seen.append((sf.samples, len(sf.trials)))
                    time.sleep(0.01)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    for k in range(40):
        rec.put_block(ramp_block(k * 500, 500, RATE))
        if k % 10 == 9:
            rec.add_trial(TrialRecord(index=k // 10, kind="twitch", start_sample=k * 500,
                                      stop_sample=k * 500 + 500))
        time.sleep(0.01)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not seen or seen[-1][1] < 4):
        time.sleep(0.01)
    stop.set()
    t.join(30)
    rec.close()
    assert not errors, errors
    samples = [s for s, _ in seen]
    assert samples == sorted(samples) and len(set(samples)) >= 3
    assert seen[-1][1] == 4
    with open_session(path) as sf:
        assert sf.complete and sf.samples == 20_000
