"""Recorder throughput against the physical limit of its path: batched h5py writes.

Run: ``.venv/bin/python bench/bench_recorder.py [--samples N] [--rounds R] [--aux K] [--dir DIR]``

Two writers store the same stream into a file of the same layout, interleaved round by
round so that both see the same machine load (the machine may be shared):

- **recorder**: :class:`SessionRecorder` fed flat out with 100-sample blocks (10 ms at
  10 kHz, what the amplifier driver hands over) through ``put_block``, with a queue
  large enough that none is dropped; the time runs from the first ``put_block`` to
  ``close()`` returning (file finalised and fsync'd) — the sustained rate of the writer
  thread including the handoff, the per-batch checks, CRC-32s, pulse extraction,
  table appends and flushes.
- **batched h5py**: the same samples written straight into resizable chunked datasets
  with one resize and one write per dataset per 2**18 samples, and the recorder's
  durability (a flush and an fsync every 0.5 s of wall time and at the end) — no
  threads, no checks, no CRC, no tables: the cost of HDF5 and the disk on this path.

With ``--aux K`` every block also carries K auxiliary channels (a DAQ rig's ``/aux``,
each with its CRC-32 per block in the recorder), and the batched writer writes K more
float32 datasets.

The printed ratio ``recorder / batched`` is the figure of issue 14 (target >= 0.5);
medians over the rounds are printed, with every round's figures for the record, and
the longest single h5py call of the recorder's writer thread (each holds the
interpreter lock: this bounds the stall it can cause in the GUI or the reader thread).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from app.metadata import SessionMetadata
from app.recorder import SessionRecorder, verify_session
from drivers.capabilities import FLAG_TRIGGER_EDGE, Calibration, SampleBlock

RATE_HZ = 10_000.0
BATCH = 1 << 18


def make_blocks(total: int, block: int, aux: int = 0) -> list[SampleBlock]:
    rng = np.random.default_rng(0)
    force = rng.normal(0, 5, block).astype(np.float32)
    flags = np.zeros(block, np.uint8)
    flags[block // 2] = FLAG_TRIGGER_EDGE
    rows = rng.normal(0, 1, (aux, block)).astype(np.float32) if aux else None
    return [SampleBlock(i * block, force, flags, RATE_HZ, 0.0, rows)
            for i in range(total // block)]


def aux_channels(blocks: list[SampleBlock]) -> list[dict]:
    """Channel descriptions for the blocks' auxiliary rows (none without them)."""
    k = 0 if blocks[0].aux is None else blocks[0].aux.shape[0]
    return [{"name": f"aux{i}", "unit": "V"} for i in range(k)]


def run_recorder(path: Path, blocks: list[SampleBlock]) -> tuple[float, float]:
    """Samples per second through the recorder, first put_block to close() returned, and
    the CPU time of the longest single h5py call of its writer thread (s)."""
    rec = SessionRecorder(path, overwrite=True, queue_size=len(blocks) + 1, fsync=True)
    rec.open(sample_rate_hz=RATE_HZ, calibration=Calibration(0.01), metadata=SessionMetadata(),
             rig={}, devices={}, software_version="bench", aux_channels=aux_channels(blocks))
    t0 = time.perf_counter()
    for b in blocks:
        rec.put_block(b)
    rec.close()
    elapsed = time.perf_counter() - t0
    assert rec.lost_samples == 0 and rec.failed is None
    report = verify_session(path)
    assert report.ok, report.problems
    return sum(len(b) for b in blocks) / elapsed, rec.longest_write_call_cpu_s


def run_h5py(path: Path, blocks: list[SampleBlock]) -> float:
    """Samples per second of bare batched h5py writes of the same stream."""
    with h5py.File(path, "w", libver="latest") as f:
        force = f.create_dataset("force", (0,), "<f4", maxshape=(None,), chunks=(1 << 16,))
        flags = f.create_dataset("flags", (0,), "u1", maxshape=(None,), chunks=(1 << 16,))
        aux = [f.create_dataset(c["name"], (0,), "<f4", maxshape=(None,), chunks=(1 << 16,))
               for c in aux_channels(blocks)]
        f.swmr_mode = True
        t0 = time.perf_counter()
        last_flush = t0
        pending_f: list[np.ndarray] = []
        pending_g: list[np.ndarray] = []
        pending_a: list[np.ndarray] = []
        pending = 0
        end = 0

        def write() -> None:
            nonlocal pending, end
            a, g = np.concatenate(pending_f), np.concatenate(pending_g)
            force.resize((end + a.size,))
            flags.resize((end + a.size,))
            force[end:] = a
            flags[end:] = g
            if aux:
                rows = np.concatenate(pending_a, axis=1)
                for ds, row in zip(aux, rows):
                    ds.resize((end + a.size,))
                    ds[end:] = row
            end += a.size
            pending_f.clear()
            pending_g.clear()
            pending_a.clear()
            pending = 0

        for b in blocks:
            pending_f.append(b.force_mN)
            pending_g.append(b.flags)
            if aux:
                pending_a.append(b.aux)
            pending += len(b)
            if pending >= BATCH:
                write()
            if time.perf_counter() - last_flush >= 0.5:
                f.flush()
                os.fsync(f.id.get_vfd_handle())
                last_flush = time.perf_counter()
        if pending:
            write()
        f.flush()
        os.fsync(f.id.get_vfd_handle())
        elapsed = time.perf_counter() - t0
    return end / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5_000_000)
    ap.add_argument("--block", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--aux", type=int, default=0, help="auxiliary channels per block")
    ap.add_argument("--dir", default=None, help="directory for the file (default: a temp dir)")
    args = ap.parse_args()
    blocks = make_blocks(args.samples, args.block, args.aux)
    rec_rates: list[float] = []
    longest: list[float] = []
    raw_rates: list[float] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        print(f"file system of {d}; {os.cpu_count()} CPUs; {len(blocks)} blocks of "
              f"{args.block} samples ({args.aux} aux channels) per round; {args.rounds} "
              "interleaved rounds")
        for i in range(args.rounds):
            rate, call_s = run_recorder(Path(d) / "rec.h5", blocks)
            rec_rates.append(rate)
            longest.append(call_s)
            raw_rates.append(run_h5py(Path(d) / "raw.h5", blocks))
            print(f"round {i + 1}: recorder {rec_rates[-1] / 1e6:6.2f} M samples/s, "
                  f"batched h5py {raw_rates[-1] / 1e6:6.2f} M samples/s, "
                  f"ratio {rec_rates[-1] / raw_rates[-1]:.2f}, longest h5py call "
                  f"{1e3 * call_s:.1f} ms CPU")
    ratios = [r / h for r, h in zip(rec_rates, raw_rates)]
    print(f"median: recorder {statistics.median(rec_rates) / 1e6:.2f} M samples/s, "
          f"batched h5py {statistics.median(raw_rates) / 1e6:.2f} M samples/s, "
          f"ratio {statistics.median(ratios):.2f} (target >= 0.5); longest h5py call "
          f"{1e3 * statistics.median(longest):.1f} ms CPU")


if __name__ == "__main__":
    main()
