"""File → Export NWB…: the session open in the current replay tab as an NWB file.

The Qt shell of ``myoforce export`` (``app.nwb``): the same output checks, the same
atomic write, the analysis settings of the tab's form; the export runs on a worker
thread and its warnings (crashed, aborted, unverified samples) and DANDI notes come
back in a dialog, so nothing the CLI would print is lost. A session filed in a study
folder carries the study's facts as on the command line; a session of an excluded
animal, chosen here one by one, is exported marked as excluded (and the dialog says so).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtWidgets import QFileDialog, QWidget

from app.gui.bridge import run_in_thread


def export_view(view: Any, out: str | Path, done: Callable[[str, str], None],
                background: bool = True) -> bool:
    """Export the session of replay ``view`` to ``out``; ``done(title, text)`` reports.

    Returns False (after reporting) when there is nothing to export or the name is
    refused; the file dialog has already asked before replacing an existing file."""
    from app.errors import UserError
    path = getattr(view, "path", None)
    if path is None or getattr(view, "recording", None) is None \
            or view.recording.format != "myoforce-h5":
        done("Export NWB", "Open a myoforce session (.h5) in a replay tab first: only "
                           "sessions export to NWB.")
        return False
    try:
        from app.nwb import require_pynwb
        from app.nwb.batch import plan_outputs, session_files
        require_pynwb()
        config = view.analysis_form.config()
        jobs = plan_outputs(session_files([path]), out, into_dir=False, overwrite=True)
    except (UserError, ValueError) as exc:
        done("Export NWB", str(exc))
        return False

    def job() -> Any:
        from app.nwb.export import export_session
        return export_session(path, out, config, study=jobs[0].study)

    def finished(report: Any) -> None:
        lines = [f"{report.output}: {report.samples} samples, {report.pulses} pulses, "
                 f"{report.trials} trials ({report.seconds:.1f} s)"]
        lines += [f"warning: {w}" for w in report.warnings]
        lines += [f"DANDI: {n}" for n in report.notes]
        done("NWB file written", "\n".join(lines))

    def failed(exc: BaseException) -> None:
        done("Export NWB failed", str(exc))

    if background:
        run_in_thread(job, finished, failed, name="myoforce-nwb-export")
    else:
        try:
            finished(job())
        except Exception as exc:
            failed(exc)
    return True


def export_dialog(parent: QWidget, view: Any, done: Callable[[str, str], None]) -> None:
    """Ask for the .nwb name (beside the session by default), then export."""
    path = getattr(view, "path", None)
    start = str(Path(path).with_suffix(".nwb")) if path else ""
    out, _ = QFileDialog.getSaveFileName(parent, "Export NWB", start, "NWB (*.nwb)")
    if out:
        export_view(view, out if out.endswith(".nwb") else out + ".nwb", done)
