"""Benchmark: analysing many session files with one command vs one process per file.

Writes ``--files`` small session files (two twitches and a tetanus each, different
amplitudes; ``tests.helpers_recording``) and times, from process start to exit:

- ``separate``: one ``myoforce analyze FILE --json`` process per file, one after the
  other (a shell loop; by default with the tree given by ``--before``, i.e. "today"
  before the batch work, else with this tree);
- ``batch cold``: ``myoforce analyze FILES... --json`` once, cache empty (process pool);
- ``batch serial``: the same with ``--jobs 1`` (cache off): what the pool adds;
- ``batch warm``: the same again with the cache filled by the cold run.

Rounds are interleaved so every variant sees the same machine load (the machine may
be shared); medians are printed, and the ratio the issue asks for: batch cold /
separate (target < 1/3). The outputs of batch and separate runs are checked to be the
same JSON lines.

Run:  .venv/bin/python bench/bench_batch.py [--files 100] [--rounds 3] [--before DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.myoforce_process import run_myoforce  # noqa: E402



def myoforce(tree: Path, argv: list[str], cache: Path | None) -> tuple[float, bytes]:
    """(wall seconds, stdout) of one ``myoforce ARGV`` process; its CPU time (with its
    worker processes) is added to :data:`CPU`."""
    env = {"MYOFORCE_CACHE_DIR": str(cache)} if cache else {"MYOFORCE_CACHE": "off"}
    run = run_myoforce(tree, argv, env)
    CPU[0] += run.cpu_s
    if run.returncode != 0:
        raise RuntimeError(f"myoforce {' '.join(argv[:3])}...: {run.stderr.decode()[-500:]}")
    return run.wall_s, run.stdout


CPU = [0.0]


def timed(label: str, times: dict, cpu: dict, fn):
    """Run ``fn`` and record its wall and CPU time under ``label``."""
    c0 = CPU[0]
    t0 = time.perf_counter()
    out = fn()
    times.setdefault(label, []).append(time.perf_counter() - t0)
    cpu.setdefault(label, []).append(CPU[0] - c0)
    return out


def make_files(folder: Path, n: int) -> list[str]:
    from tests.helpers_recording import write_synthetic_session
    return [str(write_synthetic_session(folder / f"s{i:03d}.h5", amplitude_mN=50.0 + i,
                                        block=10_000).path) for i in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", type=Path, help="tree of the older commit ('today')")
    ap.add_argument("--separate-rounds", type=int, default=None, metavar="K",
                    help="time the one-process-per-file loop in the first K rounds only "
                         "(it is by far the slowest part) [all]")
    args = ap.parse_args()
    old = args.before.resolve() if args.before else ROOT
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp), args.files)
        cache = Path(tmp) / "cache"
        batch = ["analyze", *files, "--json"]
        same = True
        for r in range(args.rounds):
            if args.separate_rounds is None or r < args.separate_rounds:
                sep_out = timed("separate", times, cpu, lambda: b"".join(
                    myoforce(old, ["analyze", f, "--json"], None)[1] for f in files))
            shutil.rmtree(cache, ignore_errors=True)
            cold_out = timed("batch cold", times, cpu, lambda: myoforce(ROOT, batch, cache)[1])
            warm_out = timed("batch warm", times, cpu, lambda: myoforce(ROOT, batch, cache)[1])
            serial_out = timed("batch serial", times, cpu,
                               lambda: myoforce(ROOT, [*batch, "-j", "1"], None)[1])
            if not cold_out == warm_out == serial_out:
                raise SystemExit("batch outputs differ between cold, warm and serial runs")
            same = same and sep_out == cold_out
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.files} session files, median of {args.rounds} interleaved rounds "
          f"(separate: {len(times['separate'])}) "
          f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}); separate = "
          f"{'tree ' + str(old) if args.before else 'this tree'}")
    for k, v in med.items():
        c = statistics.median(cpu[k])
        print(f"  {k:13} wall {v:8.2f} s ({v / args.files * 1000:6.1f} ms/file, "
              f"{v / med['separate']:.3f} of separate)   CPU {c:8.2f} s "
              f"({c / statistics.median(cpu['separate']):.3f} of separate)")
    if not same:
        print("note: the one-process-per-file output differs from the batch output "
              "(expected when --before is a tree with a different analysis)")
    ratio = med["batch cold"] / med["separate"]
    print(f"batch cold / separate = {ratio:.3f} (target < 0.333: "
          f"{'OK' if ratio < 1 / 3 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
