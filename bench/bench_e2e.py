"""End-to-end acquisition benchmark: simulated amplifier -> pty -> driver -> recorder.

The simulated rig runs in its own process (``myoforce sim --json``), so the CPU figure
measured here is the host side only: the driver's reader thread (pty reads, frame
parsing, calibration) and the recorder's writer thread (HDF5 appends, CRCs, flushes).

Reports, per sample rate: samples streamed vs in the file, gaps and lost samples (target
0), the time STOP took, the longest single h5py call of the recorder's writer, and CPU
time of this process as a percentage of one core (issue 14: <= 3 % at 10 kHz, 0 lost at
10 and 100 kHz). The machine may be shared: run it a few times and take medians.
``--read-period 0`` reads unpaced (as before paced reads), for comparison.

    .venv/bin/python bench/bench_e2e.py [--seconds 60] [--rates 10000 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app import __version__
from app.metadata import SessionMetadata
from app.recorder import SessionRecorder
from app.recorder.reader import session_info
from drivers.amplifier.driver import SerialForceAmplifier
from drivers.amplifier.pacing import READ_PERIOD_S


def start_sim() -> tuple[subprocess.Popen, dict]:
    exe = Path(sys.executable).with_name("myoforce")
    proc = subprocess.Popen([str(exe), "sim", "--json", "--seed", "1"], stdout=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline()
    return proc, json.loads(line)


def run_one(port: str, rate: int, seconds: float, out: Path,
            read_period_s: float = READ_PERIOD_S) -> dict:
    amp = SerialForceAmplifier.open(port, read_period_s=read_period_s)
    notices = []
    amp.subscribe_notices(notices.append)
    try:
        amp.configure(rate)
        rec = SessionRecorder(out, overwrite=True)
        rec.open(sample_rate_hz=rate, calibration=amp.calibration,
                 metadata=SessionMetadata(subject_id="bench"), rig={"bench": True},
                 devices={"amplifier": amp.identity}, software_version=__version__)
        amp.subscribe(rec.put_block)
        amp.subscribe_notices(rec.put_notice)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        amp.start()
        time.sleep(seconds)
        t_stop = time.perf_counter()
        amp.stop()
        stop_s = time.perf_counter() - t_stop
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        rec.close()
        longest_ms = 1e3 * getattr(rec, "longest_write_call_s", float("nan"))
        longest_cpu_ms = 1e3 * getattr(rec, "longest_write_call_cpu_s", float("nan"))
        stats = amp.stats
    finally:
        amp.close()
    info = session_info(out)
    return {
        "rate_hz": rate, "wall_s": round(wall, 2), "samples_streamed": stats.samples,
        "samples_in_file": info["samples"], "gap_samples_in_file": info["gap_samples"],
        "gap_rows": info["gaps"][:5],
        "expected_approx": int(rate * wall), "stop_s": round(stop_s, 3),
        "gaps": stats.gaps, "lost_samples": stats.lost_samples,
        "checksum_errors": stats.checksum_errors, "lost_in_recorder": info.get("lost_samples"),
        "cpu_percent_of_one_core": round(100.0 * cpu / wall, 1),
        "longest_h5py_call_ms": round(longest_ms, 2),
        "longest_h5py_call_cpu_ms": round(longest_cpu_ms, 2),
        "notices": sorted({n.kind for n in notices}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rates", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--read-period", type=float, default=READ_PERIOD_S,
                    help="the driver's read pacing in s (0: unpaced, as before)")
    args = ap.parse_args()
    proc, addresses = start_sim()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for rate in args.rates:
                result = run_one(addresses["amplifier"], rate, args.seconds,
                                 Path(tmp) / f"bench-{rate}.h5", args.read_period)
                print(json.dumps(result))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
