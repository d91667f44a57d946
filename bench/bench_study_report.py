"""Benchmark: the study report for 24 animals × 2 timepoints (target: < 10 s).

Builds a study folder (24 rats, block-randomised, two timepoints) and writes 48
synthetic Protocol-1-like sessions into it with ``app.recorder`` (twitches, 8
force–frequency tetani, 10 fatigue trains; each animal's forces scaled by its own
factor and the dosed group's by 1.15). Then times ``study report`` three times with an
empty result cache of its own (``MYOFORCE_CACHE_DIR``): cold (every session analysed,
every figure drawn), warm (every session unchanged: analyses and figures reused), warm
again, and with the analyses reused but every figure drawn (the cost after one new
session, less its one analysis). Prints the numbers;
no assert on time (guide: targets are measured here and reported).

Run:  .venv/bin/python bench/bench_study_report.py
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

N_ANIMALS, TIMEPOINTS = 24, ("baseline", "week-4")


def build(root: Path) -> float:
    from app.study import load_study
    from app.study.animals import validate_animal
    from app.study.operations import add_animals, init_study, randomise
    from tests.synthetic import SessionSpec, session_recording, write_h5

    study = init_study(root, "bench study", list(TIMEPOINTS))
    add_animals(study, [validate_animal({"id": f"R{i:02d}", "sex": "male", "body_mass": [
        {"date": "2026-10-01", "g": 280 + i}]}, "bench") for i in range(1, N_ANIMALS + 1)])
    randomise(study, seed=1)
    study = load_study(root)
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    for aid in sorted(study.animals):
        factor = rng.normal(1.0, 0.06) * (1.15 if study.true_group(aid) == "treatment" else 1)
        for k, tp in enumerate(TIMEPOINTS):
            spec = SessionSpec(fs=10_000.0, twitches=3, fatigue_trains=10,
                               fmin=100.0 * factor, fmax=1000.0 * factor * (1 + 0.05 * k),
                               with_trials=True, seed=hash((aid, tp)) % 2**31)
            rec, _ = session_recording(spec)
            path = root / "sessions" / tp / f"{aid}.h5"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_h5(rec, path, subject_id=aid, muscle="EDL", muscle_mass_mg=150.0,
                     muscle_length_mm=35.0, group=study.label(aid), timepoint=tp)
    return time.perf_counter() - t0


def timed_report(root: Path, out: Path) -> tuple[float, object]:
    from app.study import load_study
    from app.study.report import build_report
    t0 = time.perf_counter()
    res = build_report(load_study(root), out)
    return time.perf_counter() - t0, res


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MYOFORCE_CACHE_DIR"] = str(Path(tmp) / "cache")
        root = Path(tmp) / "study"
        written = build(root)
        files = list((root / "sessions").rglob("*.h5"))
        size = sum(f.stat().st_size for f in files) / 1e6
        print(f"study: {N_ANIMALS} animals x {len(TIMEPOINTS)} timepoints = {len(files)} "
              f"sessions ({size:.0f} MB), written in {written:.1f} s")
        out = Path(tmp) / "report.html"
        times = []
        for label in ("cold (all analysed)", "warm (all reused)", "warm again"):
            dt, res = timed_report(root, out)
            st = res.results.stats
            times.append(dt)
            print(f"report {label:20s}: {dt:6.2f} s  (analysed {st.analysed}, reused "
                  f"{st.reused}; HTML {out.stat().st_size / 1e6:.2f} MB, "
                  f"{len(res.exports)} exports)")
        from app.study import figures
        with figures.caching(False):
            dt, res = timed_report(root, out)
        st = res.results.stats
        print(f"report {'analyses reused, figures drawn':20s}: {dt:6.2f} s  (analysed "
              f"{st.analysed}, reused {st.reused}: what adding one session costs, + 1 analysis)")
        times.append(dt)
        from app.batch import available_cpus
        print(f"CPUs available: {available_cpus()}; load average "
              f"{os.getloadavg()[0]:.1f}")
        target = 10.0
        print(f"target < {target:g} s: warm {'OK' if times[1] < target else 'MISSED'}; "
              f"figures redrawn {'OK' if times[3] < target else 'MISSED'}; "
              f"cold {'OK' if times[0] < target else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
