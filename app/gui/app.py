"""QApplication setup and the ``myoforce gui`` entry point."""
from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from app.gui.style import configure_pyqtgraph


_QUIET = ("propagateSizeHints",)
SWITCH_INTERVAL_S = 0.001


def _message_handler(mode, context, message: str) -> None:
    if any(q in message for q in _QUIET):   # noise of the offscreen platform
        return
    sys.stderr.write(message + "\n")


def ensure_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        qInstallMessageHandler(_message_handler)
        app = QApplication(argv or [sys.argv[0]])
        app.setApplicationName("myoforce")
        app.setOrganizationName("myoforce")
    configure_pyqtgraph()
    # Device readers, the recorder, the runner and (with --sim) the simulated devices are
    # Python threads: a shorter GIL switch interval keeps the GUI thread from waiting
    # up to 5 ms behind each of them whenever it needs the interpreter.
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
    return app  # type: ignore[return-value]


def build_window(*, file: str | Path | None = None, sim: str | None = None,
                 muscle: str = "rat-edl", protocol: str | Path | None = None):
    """The main window; with ``sim`` (a kind of simulated rig, sim_devices.SIM_KINDS:
    ``gui --sim KIND``) that rig is chosen in the rig panel and connected from it, as a
    click on Connect would."""
    from app.gui.main_window import MainWindow
    win = MainWindow()
    if protocol:
        win.acquire.protocol_panel.load(protocol)
    if sim:
        from sim_devices.muscle import get_preset
        panel = win.acquire.rig_panel
        panel.choose_sim(sim, get_preset(muscle).name)   # EDL, soleus... -> the preset
        win.acquire.connect_rig(panel.spec())
    if file:
        win.open_file(file)
    settle_gc()
    return win


def settle_gc() -> None:
    """Move everything built so far (Qt wrappers, plots, modules) out of the garbage
    collector's sight: a full collection then scans only what was made since, which
    keeps its pauses of the GUI thread short (they reached ~80 ms otherwise)."""
    gc.collect()
    gc.freeze()


def parse_span(text: str | None) -> tuple[float, float] | None:
    """``"T0:T1"`` seconds (``--span``); a malformed span is the user's mistake."""
    if not text:
        return None
    try:
        t0, t1 = (float(v) for v in text.split(":"))
    except ValueError:
        from app.errors import UserError
        raise UserError(f"--span {text!r}: give start:stop in seconds, e.g. 12.5:14") from None
    if not t1 > t0 >= 0:
        from app.errors import UserError
        raise UserError(f"--span {text!r}: stop must be after start, both >= 0")
    return t0, t1


def run(args: Any) -> int:
    """``myoforce gui [FILE] [--sim [serial|daq]] [--muscle M] [--protocol P] [--screenshot OUT]``."""
    app = ensure_app()
    if getattr(args, "screenshot", None) and args.file:
        from app.gui.screenshot import take_replay_screenshot
        return take_replay_screenshot(app, Path(args.file), Path(args.screenshot),
                                      view=args.view, span=parse_span(args.span))
    if getattr(args, "screenshot", None):
        from app.gui.screenshot import take_screenshot
        return take_screenshot(app, Path(args.screenshot), sim=args.sim or "serial",
                               muscle=args.muscle,
                               protocol=args.protocol, after_trials=args.after_trials,
                               timeout_s=args.timeout)
    win = build_window(file=args.file, sim=args.sim, muscle=args.muscle, protocol=args.protocol)
    win.show()
    QTimer.singleShot(0, win.raise_)
    return int(app.exec())
