"""GUI responsiveness while a protocol runs on the simulated rig at 10 kHz.

Measures, with the main window shown (offscreen works) and Protocol 1 (demo timing)
running with auto-continue:

* redraw rate: live-view timer callbacks completed per second, and how many of them
  moved the trace (target: >= 60/s: samples arrive in bursts ~25 times a second, the
  playout clock scrolls the trace between them); the cost of one frame's data work
  (ring read, decimation to pixel columns, setData);
* event-loop stalls: a 5 ms QTimer records how late each of its ticks is; the longest
  lateness is the longest time the GUI thread was not answering (target: <= 50 ms);
* the overview pyramid for one hour at 10 kHz (36 M samples): build time, memory, and
  the time of one region query (what a drag of the overview region costs).

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_gui.py [--seconds 30] [--runs 5]``
(several runs: each run's figures, then the longest stall over all of them).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def start_external_sim() -> tuple[object, dict]:
    """``myoforce sim --json`` in its own process: the simulated devices then cost this
    process nothing, as real devices would."""
    import json
    import subprocess
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "sim", "--json"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, json.loads(line)


def bench_live(seconds: float, protocol: str | None, external_sim: bool = False) -> dict:
    import numpy as np
    from PySide6.QtCore import QElapsedTimer, QTimer

    from app.gui.app import build_window, ensure_app

    app = ensure_app()
    sim_proc = None
    if external_sim:
        sim_proc, addr = start_external_sim()
        win = build_window(protocol=protocol)
        win.acquire.connect_rig({"source": "ports", "amplifier": addr["amplifier"],
                                 "stimulator": addr["stimulator"]})
    else:
        win = build_window(sim="serial", protocol=protocol)
    win.confirm_quit = lambda: True       # closed while the protocol still runs
    win.resize(1600, 1000)
    win.show()
    page = win.acquire
    tmp = Path(tempfile.mkdtemp(prefix="myoforce-bench-"))
    page.metadata_form.editors["subject_id"].setText("bench-rat")
    page.run_controls.output.set_path(tmp / "bench.h5")
    page.run_controls.auto_continue.setChecked(True)

    frame_ms: list[float] = []
    view = page.live_view
    plain_draw = view.draw

    def timed_draw(*args) -> None:
        t = time.perf_counter()
        plain_draw(*args)
        frame_ms.append(1000 * (time.perf_counter() - t))
    view.draw = timed_draw

    t_connect = time.monotonic()
    while not page.experiment.connected:
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() - t_connect > 60:
            raise SystemExit("the simulated rig did not connect")
    assert page.run_protocol(), "protocol did not start"

    lateness: list[float] = []
    stalls: list[tuple[float, float]] = []        # (perf_counter at the end, lateness ms)
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    probe = QTimer()
    probe.setInterval(5)

    def tick() -> None:
        now = clock.nsecsElapsed()
        late = max(0.0, (now - last[0]) / 1e6 - 5.0)
        lateness.append(late)
        if late > 50:
            stalls.append((time.perf_counter(), late))
        last[0] = now

    probe.timeout.connect(tick)
    # measure from the moment streaming has started
    while page.experiment.ring.end_sample < 10_000:
        app.processEvents()
        time.sleep(0.005)
    redraws0, draws0 = page.live_view.redraws, page.live_view.draws
    samples0 = page.experiment.ring.end_sample
    t0 = time.monotonic()
    cpu_gui0, cpu_proc0 = time.thread_time(), time.process_time()
    probe.start()
    last[0] = clock.nsecsElapsed()
    end: dict = {}

    def finish() -> None:
        """End the measurement *before* quitting: in Qt 6 ``quit()`` closes the windows
        inside the event loop, and the main window's shutdown (stimulator off, confirmed
        by a query) would otherwise be counted as a stall of the running GUI."""
        probe.stop()
        end.update(elapsed=time.monotonic() - t0, cpu_gui=time.thread_time() - cpu_gui0,
                   cpu_proc=time.process_time() - cpu_proc0,
                   redraws=page.live_view.redraws - redraws0,
                   draws=page.live_view.draws - draws0,
                   samples=page.experiment.ring.end_sample - samples0)
        app.quit()

    stop = QTimer()
    stop.setSingleShot(True)
    stop.timeout.connect(finish)
    stop.start(int(seconds * 1000))
    app.exec()
    elapsed, cpu_gui, cpu_proc = end["elapsed"], end["cpu_gui"], end["cpu_proc"]
    redraws, draws, samples = end["redraws"], end["draws"], end["samples"]
    trials = page.results_table.results.rowCount()
    win.close()
    if sim_proc is not None:
        sim_proc.terminate()
        sim_proc.wait(10)
    lat = np.asarray(lateness)
    return {
        "seconds": elapsed,
        "redraws_per_s": redraws / elapsed,
        "draws_per_s": draws / elapsed,
        "samples_per_s": samples / elapsed,
        "trials_analysed": trials,
        "max_stall_ms": float(lat.max()) if lat.size else float("nan"),
        "p99_stall_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
        "stalls_over_50ms": int((lat > 50).sum()),
        "probe_ticks": int(lat.size),
        "gui_thread_cpu": cpu_gui / elapsed,
        "process_cpu": cpu_proc / elapsed,
        "load_avg": os.getloadavg()[0],
        "stalls": stalls,
        "frame_ms_median": float(np.median(frame_ms)) if frame_ms else float("nan"),
        "frame_ms_p99": float(np.percentile(frame_ms, 99)) if frame_ms else float("nan"),
    }


def bench_frame_cost(frames: int = 400, comment_every_s: float = 0.0,
                     trial_every_s: float = 0.0, trials_per_step: int = 5) -> dict:
    """One live-view frame without a rig: a 10 s window at 10 kHz, 1400 px wide, the ring
    growing by one 60 Hz frame of samples before each, the view's clock advanced by one
    frame; redraw() then a synchronous paint of the plot's viewport. The minimum is the
    figure least disturbed by other load. ``comment_every_s``: an operator comment
    (a labelled line on the trace) every so many seconds of the stream; ``trial_every_s``:
    a trial (a tick) every so many seconds, a new step (a labelled line) every
    ``trials_per_step`` trials, the marks a run puts in the ring
    (``app.live.protocol_marks``)."""
    import numpy as np

    from app.gui.app import ensure_app
    from app.gui.live_view import LiveView
    from app.live.ring_buffer import RingBuffer

    app = ensure_app()
    rate = 10_000.0
    ring = RingBuffer.for_duration(60.0, rate)
    t = np.arange(int(30 * rate)) / rate
    force = (300 * (np.sin(2 * np.pi * 2 * t) > 0.9)
             + np.random.default_rng(0).normal(0, 2, t.size)).astype(np.float32)
    flags = np.zeros(t.size, np.uint8)
    flags[::2000] = 1
    pos = int(12 * rate)
    ring.write(0, force[:pos], flags[:pos])
    if comment_every_s > 0:
        for k, at in enumerate(np.arange(comment_every_s, 30.0, comment_every_s)):
            ring.add_marker(f"comment {k}: extra anaesthetic 0.05 ml", int(at * rate), kind="comment")
    if trial_every_s > 0:
        from app.live.protocol_marks import ProtocolMarks, TrialMark
        marks = ProtocolMarks()
        for k, at in enumerate(np.arange(trial_every_s, 30.0, trial_every_s)):
            trial = TrialMark(int(at * rate), f"force-frequency {k // trials_per_step}", f"twitch {k}")
            for sample, label, kind in marks.marks(trial):
                ring.add_marker(label, sample, kind=kind)
    now = [0.0]
    view = LiveView(ring, clock=lambda: now[0])
    view.timer.stop()
    view.resize(1400, 420)
    view.show()
    for _ in range(5):
        app.processEvents()
    step = int(rate / 60)
    times = []
    for _ in range(frames):
        ring.write(pos, force[pos:pos + step], flags[pos:pos + step])
        pos += step
        now[0] += 1 / 60
        t0 = time.perf_counter()
        view.redraw()
        view.plot.viewport().repaint()
        times.append(1000 * (time.perf_counter() - t0))
    view.close()
    ms = np.asarray(times[50:])
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "min_ms": float(ms.min()), "comments_shown": len(view.comments.shown),
            "steps_shown": len(view.steps.shown), "trials_shown": len(view.trials.shown)}


def bench_overview(hours: float = 1.0, rate: float = 10_000.0) -> dict:
    import numpy as np

    from app.live.decimate import MinMaxPyramid

    n = int(hours * 3600 * rate)
    rng = np.random.default_rng(0)
    data = rng.normal(0, 1, n).astype(np.float32)
    t = time.perf_counter()
    pyr = MinMaxPyramid(data)
    build = time.perf_counter() - t
    queries = []
    for start in rng.integers(0, n - 60 * int(rate), 20):
        t = time.perf_counter()
        pyr.query(int(start), int(start) + 60 * int(rate), 3000)
        queries.append(time.perf_counter() - t)
    t = time.perf_counter()
    pyr.query(0, n, 3000)
    whole = time.perf_counter() - t
    return {"samples": n, "build_s": build, "pyramid_MB": pyr.nbytes / 1e6,
            "data_MB": data.nbytes / 1e6, "query_60s_ms": 1000 * max(queries),
            "query_whole_ms": 1000 * whole}


def report_live(live: dict, where: str) -> None:
    print(f"live view, simulated rig ({where}) at 10 kHz, protocol running, {live['seconds']:.1f} s:")
    print(f"  redraw timer callbacks completed: {live['redraws_per_s']:6.1f} /s")
    print(f"  frames that moved the trace:      {live['draws_per_s']:6.1f} /s   (target >= 60)")
    print(f"  one frame's data work:            {live['frame_ms_median']:6.2f} ms median, "
          f"{live['frame_ms_p99']:.2f} ms 99th percentile")
    print(f"  samples streamed:                 {live['samples_per_s']:8.0f} /s")
    print(f"  trials analysed meanwhile:        {live['trials_analysed']:6d}")
    print(f"  longest event-loop stall:         {live['max_stall_ms']:6.1f} ms  (target < 50)")
    print(f"  99th percentile stall:            {live['p99_stall_ms']:6.1f} ms   "
          f"({live['stalls_over_50ms']} of {live['probe_ticks']} probe ticks late > 50 ms)")
    print(f"  GUI thread CPU:                   {100 * live['gui_thread_cpu']:6.1f} % of a core "
          f"(whole process {100 * live['process_cpu']:.0f} %)")
    print(f"  machine load average meanwhile:   {live['load_avg']:6.2f} on {os.cpu_count()} cores")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="how long to measure (default 30)")
    ap.add_argument("--runs", type=int, default=1, help="measure this many runs (default 1)")
    ap.add_argument("--protocol", help="protocol file (default Protocol 1 demo timing)")
    ap.add_argument("--skip-overview", action="store_true")
    ap.add_argument("--frame-cost", action="store_true",
                    help="only the cost of one live-view frame (no rig, no protocol)")
    ap.add_argument("--comment-every", type=float, default=0.0, metavar="S",
                    help="with --frame-cost: an operator comment every S seconds of the stream "
                         "(drawn as labelled lines)")
    ap.add_argument("--trial-every", type=float, default=0.0, metavar="S",
                    help="with --frame-cost: a trial every S seconds of the stream (a tick), a "
                         "new protocol step every 5 trials (a line labelled with its name)")
    ap.add_argument("--external-sim", action="store_true",
                    help="run the simulated devices in their own process (myoforce sim), as real "
                         "devices would be, instead of inside the GUI process")
    args = ap.parse_args()
    if args.frame_cost:
        fc = bench_frame_cost(comment_every_s=args.comment_every, trial_every_s=args.trial_every)
        print(f"one live-view frame (10 s at 10 kHz, 1400 px, data work + paint, "
              f"{fc['comments_shown']} comments, {fc['steps_shown']} steps, "
              f"{fc['trials_shown']} trial ticks shown): median "
              f"{fc['median_ms']:.2f} ms, 90th percentile {fc['p90_ms']:.2f} ms, minimum "
              f"{fc['min_ms']:.2f} ms (room for {1000 / fc['min_ms']:.0f} frames/s on an idle core)")
        return 0
    where = "in its own process" if args.external_sim else "in the GUI process"
    runs = []
    for k in range(args.runs):
        live = bench_live(args.seconds, args.protocol, args.external_sim)
        if args.runs > 1:
            print(f"run {k + 1}/{args.runs}")
        report_live(live, where)
        runs.append(live)
    ok_runs = sum(1 for r in runs if r["draws_per_s"] >= 60 and r["max_stall_ms"] < 50)
    if args.runs > 1:
        print(f"over {args.runs} runs: frames that moved the trace {min(r['draws_per_s'] for r in runs):.1f}–"
              f"{max(r['draws_per_s'] for r in runs):.1f} /s; longest stall "
              f"{max(r['max_stall_ms'] for r in runs):.1f} ms (per run: "
              + ", ".join(f"{r['max_stall_ms']:.0f}" for r in runs) + " ms); "
              f"{ok_runs} of {args.runs} runs met both targets")
    ok = ok_runs == len(runs)
    if not args.skip_overview:
        ov = bench_overview()
        print(f"overview of 1 h at 10 kHz ({ov['samples']:,} samples, {ov['data_MB']:.0f} MB):")
        print(f"  pyramid build {ov['build_s']:.2f} s, {ov['pyramid_MB']:.1f} MB; "
              f"query 60 s span {ov['query_60s_ms']:.2f} ms, whole hour {ov['query_whole_ms']:.2f} ms")
    print("PASS" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
