"""What a replay tab exports: the results as CSV, its plots as PNG, the notebook figures.

A mixin of :class:`app.gui.replay_view.ReplayView` (it uses the view's results table,
plots, recording, analysis result, path and ``message`` signal), kept here so the view
holds what it shows and this what it writes out.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QPushButton


class ReplayExports:
    """Export CSV…, Export PNG…, Export figures… and what they write."""

    def export_buttons(self) -> list[QPushButton]:
        """The three buttons under the Results tab's summary, connected."""
        csv_button = QPushButton("Export CSV…")
        csv_button.clicked.connect(self._export_csv_dialog)
        png_button = QPushButton("Export PNG…")
        png_button.setToolTip("Pictures of the plots as they are on screen")
        png_button.clicked.connect(self._export_png_dialog)
        fig_button = QPushButton("Export figures…")
        fig_button.setToolTip("Publication figures into a folder, as 'myoforce plot' writes "
                              "them: each contraction, force–frequency, length–tension, fatigue")
        fig_button.clicked.connect(self._export_figures_dialog)
        self.csv_button, self.png_button, self.fig_button = csv_button, png_button, fig_button
        return [csv_button, png_button, fig_button]

    def export_csv(self, path: str | Path) -> Path:
        out = self.results_table.to_csv(path)
        self.message.emit(f"Results written to {out}")
        return out

    def export_png(self, path: str | Path) -> list[Path]:
        """``<stem>-trial.png``, ``<stem>-recording.png``, ``<stem>-force-frequency.png``."""
        path = Path(path)
        stem = path.with_suffix("")
        written = []
        for suffix, widget in (("trial", self.trial_plot.plot), ("recording", self.overview),
                               ("force-frequency", self.ff_plot.plot)):
            out = Path(f"{stem}-{suffix}.png")
            if widget.width() < 50 or widget.height() < 50:
                widget.resize(900, 500)
            if not widget.grab().save(str(out)):
                raise OSError(f"could not write {out}")
            written.append(out)
        self.message.emit(f"Plots written to {', '.join(str(w) for w in written)}")
        return written

    def export_figures(self, directory: str | Path) -> list[Path]:
        """The notebook-ready figures of ``app.plots`` (the same as ``myoforce plot``)."""
        if self.recording is None or self.session_result is None:
            self.message.emit("Nothing to export yet: the analysis has not finished")
            return []
        from app.plots import plot_session
        written = plot_session(self.recording, self.session_result, directory)
        self.message.emit(f"{len(written)} figures written to {directory}")
        return written

    def _export_figures_dialog(self) -> None:
        start = str(self.path.parent) if self.path else ""
        path = QFileDialog.getExistingDirectory(self, "Folder for the figures", start)
        if path:
            self.export_figures(path)

    def _export_csv_dialog(self) -> None:
        start = str(self.path.with_suffix(".results.csv")) if self.path else ""
        path, _ = QFileDialog.getSaveFileName(self, "Export results", start, "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _export_png_dialog(self) -> None:
        start = str(self.path.with_suffix(".png")) if self.path else ""
        path, _ = QFileDialog.getSaveFileName(self, "Export plots", start, "PNG (*.png)")
        if path:
            self.export_png(path)
