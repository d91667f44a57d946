"""The DAQ path on the simulated board: samples lost and host CPU (issue 15).

Run: ``.venv/bin/python bench/bench_daq.py [--seconds 60] [--rates 10000 100000] [--dir DIR]``

For each rate, a simulated board (``drivers/daq/sim_backend.py``) samples 4 channels
(force + 3 auxiliary) in real time; the DAQ force source reads it block by block into
its preallocated array, keeps the analog output written ahead (a twitch every second,
so the output path works too), converts and marks, and hands every block to a
:class:`SessionRecorder` writing the session file, as in a run. Reported:

- **samples lost**: samples missing between consecutive blocks, overrun/timeout notices,
  samples the recorder dropped, and gaps in the file (target 0);
- **pulses**: trains fired vs markers in the file at exactly the fired samples;
- **host CPU**: process CPU time / wall time, in % of one core, with the simulated
  board's own rendering of the muscle (``render_cpu_s``, work a real board does in
  hardware) subtracted: the cost of the DAQ path on the host (target < 5 % at 10 kHz).
  The total including the simulation is printed too.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from app.metadata import SessionMetadata
from app.recorder import SessionRecorder
from app.recorder.reader import open_session
from app.rig.daq_config import sim_daq_section
from app.rig.daq_connect import start_sim_daq_rig
from drivers.capabilities import StimulusSpec


def run(rate: float, seconds: float, directory: Path) -> dict:
    rig = start_sim_daq_rig(sim_daq_section(rate), seed=1)
    src, stim, board = rig.amplifier, rig.stimulator, rig.sim
    path = directory / f"bench-daq-{int(rate)}.h5"
    path.unlink(missing_ok=True)
    rec = SessionRecorder(path, min_free_bytes=0)
    rec.open(sample_rate_hz=src.sample_rate_hz, calibration=src.calibration,
             metadata=SessionMetadata(), rig=rig.description,
             devices={"amplifier": src.identity, "stimulator": stim.identity},
             software_version="bench", aux_channels=src.aux_channels())
    notices, firsts, lengths = [], [], []

    def sink(block):
        firsts.append(block.first_sample)
        lengths.append(len(block))
        rec.put_block(block)
    src.subscribe(sink)
    src.subscribe_notices(lambda n: n.kind not in ("started", "stopped") and notices.append(n))
    rec_notices = []
    rec._on_notice = rec_notices.append
    width = 1000.0 * 2 / rate if rate > 10000 else 0.2        # a whole number of samples
    try:
        src.start()
        cpu0, wall0, render0 = time.process_time(), time.monotonic(), board.render_cpu_s
        next_fire = wall0 + 0.5
        while (now := time.monotonic()) < wall0 + seconds and not notices:
            if now >= next_fire:
                stim.configure(StimulusSpec(2.0, width))
                stim.fire()
                next_fire += 1.0
            time.sleep(0.05)
        wall = time.monotonic() - wall0
        cpu = time.process_time() - cpu0
        render = board.render_cpu_s - render0
        stim.set_output(False)
        src.stop()
    finally:
        rig.close()
        rec.close()
    f = np.array(firsts)
    n = np.array(lengths)
    between = int(np.sum(f[1:] - (f[:-1] + n[:-1]))) if f.size > 1 else 0
    with open_session(path) as sf:
        gaps = sum(g.count for g in sf.gaps)
        pulses = sf.pulse_samples
        samples = sf.samples
        aux = len(sf.aux_channels)
    size = path.stat().st_size
    path.unlink(missing_ok=True)
    return {"rate": rate, "wall_s": wall, "samples": samples, "channels": 1 + aux,
            "lost_between_blocks": between, "notices": [x.kind for x in notices],
            "recorder_lost": rec.lost_samples, "file_gap_samples": gaps,
            "fired": len(stim.fired_at), "marked_exactly": int(np.isin(stim.fired_at, pulses).sum()),
            "cpu_total_pct": 100.0 * cpu / wall, "cpu_sim_pct": 100.0 * render / wall,
            "cpu_daq_pct": 100.0 * (cpu - render) / wall, "file_MB": size / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="per rate (default 60)")
    ap.add_argument("--rates", type=float, nargs="+", default=[10000.0, 100000.0])
    ap.add_argument("--dir", type=Path, default=None, help="where the session files go")
    args = ap.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="bench-daq-"))
    print(f"DAQ path on the simulated board: 4 channels, {args.seconds:g} s per rate, "
          f"{os.cpu_count()} CPUs")
    for rate in args.rates:
        r = run(rate, args.seconds, directory)
        lost = r["lost_between_blocks"] + r["recorder_lost"] + r["file_gap_samples"]
        print(f"{r['rate']:>8.0f} Hz x {r['channels']} ch: {r['samples']} samples in "
              f"{r['wall_s']:.1f} s; samples lost {lost} (between blocks "
              f"{r['lost_between_blocks']}, recorder {r['recorder_lost']}, file gaps "
              f"{r['file_gap_samples']}); notices {r['notices'] or 'none'}; pulses marked "
              f"exactly {r['marked_exactly']}/{r['fired']}")
        print(f"{'':>13} host CPU of the DAQ path {r['cpu_daq_pct']:.2f} % of a core "
              f"(total {r['cpu_total_pct']:.2f} %, of which simulated board "
              f"{r['cpu_sim_pct']:.2f} %); file {r['file_MB']:.1f} MB")


if __name__ == "__main__":
    main()
