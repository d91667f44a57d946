"""Benchmark of the force amplifier's receive path: frame parsing + counts-to-mN conversion.

Feeds 20 M samples' worth of frames (240 MB) through FrameParser in realistic chunk sizes
(what one read returns at 100 kHz with a 10 ms poll, and a full 64 KiB read), converts
every run to mN with a Calibration, and prints samples/s on one core. Then streams from
SimAmplifierDevice at 100 kHz over a real pty through SerialForceAmplifier and prints the
throughput and losses. Target: >= 5 M samples/s parsing; 100 kHz over the pty without loss.

    .venv/bin/python bench/bench_frames.py [--samples 20e6] [--pty-seconds 3]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from drivers.amplifier.frames import FrameParser, encode_frames
from drivers.capabilities import Calibration

SEGMENT = 2_000_000  # samples encoded at a time (untimed), to bound memory


def bench_parse(total: int, chunk: int, damage: bool = False) -> tuple[float, FrameParser]:
    """Seconds spent parsing + converting ``total`` samples fed in ``chunk``-byte reads."""
    rng = np.random.default_rng(0)
    cal = Calibration(0.002, 5123.4)
    parser = FrameParser()
    elapsed = 0.0
    seq = 0
    converted = 0
    while seq < total:
        n = min(SEGMENT, total - seq)
        counts = rng.integers(-200_000, 200_000, n)
        flags = np.zeros(n, np.uint8)
        data = encode_frames(seq, counts, flags)
        if damage:  # ~1 bit flip per 100 kB and 40 garbage bytes every 10 ms at 100 kHz
            buf = np.frombuffer(data, np.uint8).copy()
            hit = rng.random(buf.size) < 1e-5
            buf[hit] ^= np.uint8(0x10)
            parts = np.array_split(buf, max(1, n // 1000))
            junk = rng.integers(0, 256, 40, dtype=np.uint8)
            data = b"".join(p.tobytes() + junk.tobytes() for p in parts)
        seq += n
        view = memoryview(data)
        t0 = time.process_time()
        for k in range(0, len(data), chunk):
            for run in parser.feed(view[k:k + chunk]).runs:
                cal.to_mN(run.counts)
                converted += len(run)
        elapsed += time.process_time() - t0
    assert converted == parser.samples
    return elapsed, parser


def bench_pty(seconds: float, rate: int = 100_000) -> None:
    from drivers.amplifier.driver import SerialForceAmplifier
    from sim_devices.amplifier_device import SimAmplifierDevice
    from sim_devices.world import SimWorld

    world = SimWorld()
    device = SimAmplifierDevice(world, seed=1)
    port = device.start()
    amp = SerialForceAmplifier.open(port)
    try:
        amp.configure(rate)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        blocks = amp.collect(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        stats = amp.stats
        n = sum(len(b) for b in blocks)
        print(f"pty stream at {rate / 1000:g} kHz for {wall:.2f} s: {n} samples "
              f"({n / wall / 1e3:.1f} k samples/s, {12 * n / wall / 1e6:.2f} MB/s), "
              f"{len(blocks)} blocks (mean {n / max(1, len(blocks)):.0f} samples), "
              f"lost {stats.lost_samples}, gaps {stats.gaps}, CRC errors {stats.checksum_errors}, "
              f"device overflows {device.overflows}; CPU (device + host, this process) "
              f"{100 * cpu / wall:.0f}% of one core")
    finally:
        amp.close()
        device.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=float, default=20e6)
    ap.add_argument("--pty-seconds", type=float, default=3.0)
    args = ap.parse_args()
    total = int(args.samples)
    print(f"parse + calibrate {total / 1e6:g} M samples ({12 * total / 1e6:.0f} MB), "
          f"process CPU time, pid {os.getpid()}")
    for chunk, label in ((12_000, "12 kB reads (10 ms at 100 kHz)"), (65_536, "64 KiB reads"),
                         (4_096, "4 KiB reads")):
        secs, _ = bench_parse(total, chunk)
        print(f"  clean stream,   {label:32s}: {total / secs / 1e6:6.1f} M samples/s")
    secs, parser = bench_parse(total // 4, 12_000, damage=True)
    print(f"  damaged stream, {'12 kB reads':32s}: {total // 4 / secs / 1e6:6.1f} M samples/s "
          f"({parser.checksum_errors} CRC errors, {parser.resyncs} resyncs, "
          f"{parser.lost_samples} samples lost)")
    if args.pty_seconds > 0:
        bench_pty(args.pty_seconds)


if __name__ == "__main__":
    main()
