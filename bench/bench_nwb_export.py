"""NWB export of long sessions: wall time and peak memory (issue 13: one hour at 10 kHz
in under 10 s, memory bounded because the force is streamed, never loaded whole).

Run: ``.venv/bin/python bench/bench_nwb_export.py [--minutes 60 6] [--dir DIR]``

For each length a session is recorded through :class:`SessionRecorder` (noise plus a
twitch every 10 s, one trial record per twitch: 360 trials in an hour), then
``myoforce export`` runs on it in a fresh process, so its peak resident set size
(``ru_maxrss`` of the child) is the export's own. The time is the export call measured
inside that process (analysis of every trial included and printed separately;
interpreter start-up and imports excluded, and printed separately), as wall and as CPU
time (on a shared machine the CPU time is what the export would take alone). The peak RSS is
the child's ``VmHWM`` after resetting it at start (Linux ``/proc/self/clear_refs``;
``ru_maxrss`` would include the parent's memory at fork). Bounded memory shows as the
same peak for every length; the whole force would be 137 MiB at 60 minutes.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.metadata import SessionMetadata  # noqa: E402
from app.recorder import SessionRecorder, TrialRecord  # noqa: E402
from drivers.capabilities import FLAG_TRIGGER_EDGE, Calibration, SampleBlock  # noqa: E402

RATE_HZ = 10_000.0
BLOCK = 10_000                  # 1 s blocks
TWITCH_EVERY = 10               # s
CHILD = """
import json, sys, time
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
try:        # the high-water mark survives fork + exec: start this process's own from here
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    pass
t0 = time.perf_counter()
from app.nwb.export import export_session
import pynwb, scipy.optimize, app.analysis.session  # noqa: F401,E401  (imports are not the export)
t1, c1 = time.perf_counter(), time.process_time()
report = export_session(sys.argv[1], sys.argv[2])
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"imports_s": t1 - t0, "export_s": t2 - t1, "cpu_s": c2 - c1,
                  "trials": report.trials,
                  "analysis_s": report.analysis_seconds,
                  "samples": report.samples, "warnings": report.warnings,
                  "maxrss_kb": peak_kb()}))
"""


def _blocks() -> tuple[SampleBlock, SampleBlock]:
    """A quiet 1 s block and one with a twitch (A (t/tp) e^(1 - t/tp)) at 0.1 s."""
    rng = np.random.default_rng(1)
    quiet = (rng.normal(0.0, 0.5, BLOCK) + 5.0).astype(np.float32)
    t = np.arange(BLOCK) / RATE_HZ - 0.1
    twitch = quiet + np.where(t > 0, 800.0 * (t / 0.015) * np.exp(1 - t / 0.015), 0.0)
    flags = np.zeros(BLOCK, np.uint8)
    flags[1000] = FLAG_TRIGGER_EDGE
    return (SampleBlock(0, quiet, np.zeros(BLOCK, np.uint8), RATE_HZ),
            SampleBlock(0, twitch.astype(np.float32), flags, RATE_HZ))


def record(path: Path, minutes: float) -> None:
    seconds = int(minutes * 60)
    rec = SessionRecorder(path, overwrite=True, queue_size=seconds + 10)
    rec.open(sample_rate_hz=RATE_HZ, calibration=Calibration(0.01),
             metadata=SessionMetadata(subject_id="bench", species="rat", sex="male",
                                      age_weeks=12, body_mass_g=300),
             rig={"name": "bench"}, devices={"amplifier": "bench,amp,1,1"},
             software_version="bench")
    quiet, twitch = _blocks()
    for s in range(seconds):
        b = twitch if s % TWITCH_EVERY == 0 else quiet
        rec.put_block(SampleBlock(s * BLOCK, b.force_mN, b.flags, RATE_HZ))
        if s % TWITCH_EVERY == 0:
            start = s * BLOCK
            rec.add_trial(TrialRecord(index=s // TWITCH_EVERY, kind="twitch", step="twitch",
                                      start_sample=start + 500, stop_sample=start + 4000,
                                      first_pulse_sample=start + 1000, pulses=1,
                                      current_mA=2.0, pulse_width_ms=0.2))
    rec.close()
    assert rec.lost_samples == 0


def export(src: Path, out: Path) -> dict:
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(src), str(out)], cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[6.0, 60.0])
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    print("(a shared machine stretches wall times: the CPU time is what the export takes "
          "on an idle core)")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for minutes in args.minutes:
            src, out = Path(tmp) / f"s{minutes:g}.h5", Path(tmp) / f"s{minutes:g}.nwb"
            t0 = time.perf_counter()
            record(src, minutes)
            made = time.perf_counter() - t0
            r = export(src, out)
            mb = 1 << 20
            print(f"{minutes:g} min at {RATE_HZ:g} Hz: {r['samples']} samples, {r['trials']} "
                  f"trials (source {src.stat().st_size / mb:.0f} MB, recorded in {made:.1f} s)")
            print(f"  export {r['export_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU; analysis of "
                  f"every trial {r['analysis_s']:.2f} s wall of it (imports {r['imports_s']:.2f} s, "
                  f"process "
                  f"{r['process_wall_s']:.2f} s); peak RSS {r['maxrss_kb'] / 1024:.0f} MB; "
                  f"NWB {out.stat().st_size / mb:.0f} MB; whole force would be "
                  f"{r['samples'] * 4 / mb:.0f} MB")
            src.unlink()
            out.unlink()


if __name__ == "__main__":
    main()
