"""``myoforce gui [FILE] --screenshot OUT.png``: a picture of the window, then exit.

With FILE: the replay of that file, on the tab ``view`` with ``span`` seconds in the
detail plot, once loading and analysis are done (a file that cannot be opened: one
line, exit 1). Without FILE: the window in the middle of a protocol.

Starts the simulated rig, runs the protocol (default: Protocol 1, demo timing) with
auto-continue, grabs the main window once the force–frequency curve has five points (or
after ``after_trials`` trials, or at the end of a protocol that stops sooner), then presses STOP, waits for the session file to be closed,
and exits 0. Works offscreen (``QT_QPA_PLATFORM=offscreen``).
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

SIZE = (1600, 1000)


def take_screenshot(app: QApplication, out: Path, *, sim: str = "serial", muscle: str = "rat-edl",
                    protocol: str | Path | None = None, after_trials: int = 25,
                    ff_points: int = 5, timeout_s: float = 240.0) -> int:
    from app.gui.app import build_window

    tmp = Path(tempfile.mkdtemp(prefix="myoforce-screenshot-"))
    win = build_window(sim=sim, muscle=muscle, protocol=protocol)
    page = win.acquire
    win.confirm_quit = lambda: True       # no question on the way out
    win.resize(*SIZE)
    win.show()
    form = page.metadata_form
    form.set_values({"subject_id": "demo-rat-01", "group": "vehicle", "muscle": "EDL", "side": "left",
                     "sex": "male", "body_mass_g": 310.0, "operator": "tech"})
    page.run_controls.output.set_path(tmp / "demo-rat-01.h5")
    page.run_controls.auto_continue.setChecked(True)
    state = {"phase": "connecting", "rc": 1, "t0": time.monotonic(), "shot": False}

    def poll() -> None:
        elapsed = time.monotonic() - state["t0"]
        if elapsed > timeout_s:
            print(f"myoforce gui: screenshot timed out in phase {state['phase']}", file=sys.stderr)
            finish(1)
            return
        if state["phase"] == "connecting" and page.experiment.connected and page.rig_panel.connected:
            if page.run_protocol():
                state["phase"] = "running"
            else:
                finish(1)
        elif state["phase"] == "running":
            rows = page.results_table.results.rowCount()
            if not page.running and page.finished_status is not None:
                grab()             # the protocol ended before the moment we waited for
                finish(0)
            elif len(page.ff_plot.freqs) >= ff_points or rows >= after_trials:
                grab()
                state["phase"] = "stopping"
                win.stop()
        elif state["phase"] == "stopping" and not page.running:
            finish(0)

    def grab() -> None:
        page.flush_deferred()
        app.processEvents()
        page.live_view.redraw()
        out.parent.mkdir(parents=True, exist_ok=True)
        if not win.grab().save(str(out)):
            print(f"myoforce gui: could not write {out}", file=sys.stderr)
            state["rc"] = 1
            return
        state["shot"] = True
        print(f"screenshot written to {out}")

    def finish(rc: int) -> None:
        timer.stop()
        state["rc"] = rc if state["shot"] or rc else 1
        win.close()                      # aborts, closes the file, releases the rig
        app.quit()

    timer = QTimer()
    timer.setInterval(100)
    timer.timeout.connect(poll)
    timer.start()
    app.exec()
    shutil.rmtree(tmp, ignore_errors=True)
    return int(state["rc"])


REPLAY_TABS = {"trial": 0, "recording": 1, "playback": 2, "results": 3}


def take_replay_screenshot(app: QApplication, file: Path, out: Path, *, view: str = "recording",
                           span: tuple[float, float] | None = None, timeout_s: float = 120.0) -> int:
    """Open ``file`` in replay, wait for its analysis, show ``view`` and save the window."""
    from app.gui.app import build_window

    win = build_window()
    problems: list[str] = []
    win.report_error = lambda _title, text: problems.append(text)   # one line, no dialog
    win.resize(*SIZE)
    win.show()
    replay = win.open_file(file)
    t0 = time.monotonic()
    while replay.load_error is None and (replay.session_result is None or replay.overview.pyramid is None):
        app.processEvents()
        if time.monotonic() - t0 > timeout_s:
            print(f"myoforce gui: {file}: timed out opening it for the screenshot", file=sys.stderr)
            win.close()
            return 1
        time.sleep(0.01)
    if replay.load_error is not None:
        print(f"myoforce gui: {problems[0] if problems else replay.load_error}", file=sys.stderr)
        win.close()
        return 1
    replay.tabs.setCurrentIndex(REPLAY_TABS[view])
    app.processEvents()
    if span is not None:
        replay.overview.region.setRegion(span)
    for _ in range(5):
        app.processEvents()
        time.sleep(0.02)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = win.grab().save(str(out))
    win.close()
    if not ok:
        print(f"myoforce gui: could not write {out}", file=sys.stderr)
        return 1
    print(f"screenshot written to {out}")
    return 0
