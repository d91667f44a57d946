"""Benchmark: process start to exit of the ``myoforce`` command (issue 14).

Times, in fresh processes, ``myoforce --help``, ``myoforce info FILE`` and ``myoforce
analyze FILE --json`` (with the result cache off, so the analysis really runs) on two
files: a short session (two twitches and a tetanus, ``tests.helpers_recording``) and a
Protocol-1-sized session (twitches, an 8-frequency force-frequency series with its
sigmoid fit, a fatigue series; ``tests.synthetic``). The command is started exactly as
the ``myoforce`` console script starts it.

With ``--before DIR`` (a checkout of an older commit, e.g. ``git archive 8d4ff7e | tar
-x -C /tmp/before``) the same commands of that tree are run interleaved with this one's,
round by round, so both see the same machine load; medians and ratios are printed.

Run:  .venv/bin/python bench/bench_startup.py [--rounds 7] [--before /tmp/before]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.myoforce_process import run_myoforce  # noqa: E402

TARGETS = {"--help": 0.15, "info": 0.35, "analyze": 0.5}


def run_once(tree: Path, argv: list[str], cache: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``myoforce ARGV`` process."""
    run = run_myoforce(tree, argv, {"MYOFORCE_CACHE": "off", "MYOFORCE_CACHE_DIR": cache})
    if run.returncode not in (0, 1):       # 1: a file with a failed trial is still timed
        raise RuntimeError(f"{tree}: myoforce {' '.join(argv)}: {run.stderr.decode()}")
    return run.wall_s, run.cpu_s


def make_files(folder: Path) -> dict[str, str]:
    from tests.helpers_recording import write_synthetic_session
    from tests.synthetic import SessionSpec, session_recording, write_h5

    short = write_synthetic_session(folder / "short.h5").path
    rec, _ = session_recording(SessionSpec(twitches=5, fatigue_trains=10, with_trials=True),
                               muscle="EDL", muscle_mass_mg=150.0, muscle_length_mm=35.0)
    full = folder / "protocol1.h5"
    write_h5(rec, full)
    return {"short": str(short), "protocol-1": str(full)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--before", type=Path, help="tree of the older commit to compare with")
    args = ap.parse_args()
    trees = {"now": ROOT} | ({"before": args.before.resolve()} if args.before else {})
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp))
        cases = {"--help": ["--help"]}
        for name, path in files.items():
            cases[f"info {name}"] = ["info", path]
            cases[f"analyze {name} --json"] = ["analyze", path, "--json"]
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for tree in trees.values():                  # warm the disk cache and .pyc files
            for argv in cases.values():
                run_once(tree, argv, tmp)
        for _ in range(args.rounds):
            for case, argv in cases.items():
                for label, tree in trees.items():
                    times.setdefault((case, label), []).append(run_once(tree, argv, tmp))
    report(cases, trees, times, args.rounds)
    return 0


def report(cases, trees, times, rounds: int) -> None:
    """Medians of wall time (what the user waits) and of CPU time (user + system: on
    a machine shared with other work, the better estimate of the wall time when idle)."""
    print(f"process start to exit, median of {rounds} interleaved rounds "
          f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    for k, what in ((0, "wall time"), (1, "CPU time (user+sys)")):
        print(f"\n{what}")
        head = f"{'command':34}" + "".join(f"{label:>10}" for label in trees)
        print(head + ("     ratio" if "before" in trees else "") + "   target")
        for case in cases:
            med = {label: statistics.median(t[k] for t in times[(case, label)])
                   for label in trees}
            target = TARGETS[case.split()[0]]
            line = f"myoforce {case:25}" + "".join(f"{med[label]:9.3f}s" for label in trees)
            if "before" in trees:
                line += f"  {med['before'] / med['now']:7.2f}x"
            line += f"   < {target:g} s {'OK' if med['now'] < target else 'MISSED'}"
            print(line)


if __name__ == "__main__":
    sys.exit(main())
