"""Recorder throughput: how many samples per second the writer thread gets into the file.

Run: ``.venv/bin/python bench/bench_recorder.py [--samples N] [--dir DIR]``

Blocks are built in advance and handed to ``put_block`` as fast as possible with a
queue large enough that none is dropped; the time is from the first ``put_block`` to
``close()`` returning (file finalised, fsync'd), i.e. the sustained rate of the writer
thread including CRC-32, pulse extraction and flushes. Target: >= 5 M samples/s.
A rig streams 10 kHz, i.e. the target is a 500x margin.

The end-to-end bench (simulated amplifier -> pty -> amplifier driver -> recorder) will
be added here once the amplifier driver lands.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from app.metadata import SessionMetadata
from app.recorder import SessionRecorder, verify_session
from drivers.capabilities import FLAG_TRIGGER_EDGE, Calibration, SampleBlock


def run(path: Path, total: int, block: int, rate_hz: float, fsync: bool) -> dict[str, float]:
    n_blocks = total // block
    rng = np.random.default_rng(0)
    force = rng.normal(0, 5, block).astype(np.float32)
    flags = np.zeros(block, np.uint8)
    flags[block // 2] = FLAG_TRIGGER_EDGE
    blocks = [SampleBlock(i * block, force, flags, rate_hz) for i in range(n_blocks)]
    rec = SessionRecorder(path, overwrite=True, queue_size=n_blocks + 1, fsync=fsync)
    rec.open(sample_rate_hz=rate_hz, calibration=Calibration(0.01), metadata=SessionMetadata(),
             rig={}, devices={}, software_version="bench")
    t0 = time.perf_counter()
    for b in blocks:
        rec.put_block(b)
    t_put = time.perf_counter() - t0
    rec.close()
    elapsed = time.perf_counter() - t0
    assert rec.lost_samples == 0 and rec.failed is None
    report = verify_session(path)
    assert report.ok, report.problems
    return {"samples": n_blocks * block, "seconds": elapsed,
            "samples_per_s": n_blocks * block / elapsed,
            "put_us_per_block": 1e6 * t_put / n_blocks,
            "file_MB": path.stat().st_size / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20_000_000)
    ap.add_argument("--dir", default=None, help="directory for the file (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        path = Path(d) / "bench.h5"
        print(f"file system of {d}; {os.cpu_count()} CPUs")
        print(f"{'block':>22} {'fsync':>5} {'samples':>10} {'s':>7} {'M samples/s':>12} "
              f"{'put us/blk':>10} {'MB':>7}")
        for block, label, fsync in ((1000, "1000 samples", True),
                                    (100, "10 ms at 10 kHz (100)", True),
                                    (1000, "1000 samples", False)):
            total = args.samples if block >= 1000 else args.samples // 4
            r = run(path, total, block, 10_000.0, fsync)
            print(f"{label:>22} {str(fsync):>5} {r['samples']:>10} {r['seconds']:>7.2f} "
                  f"{r['samples_per_s'] / 1e6:>12.2f} {r['put_us_per_block']:>10.2f} "
                  f"{r['file_MB']:>7.1f}")


if __name__ == "__main__":
    main()
