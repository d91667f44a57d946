"""Where the session file goes; an existing file is never overwritten without asking."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QMessageBox, QPushButton, QWidget


def suggested_name(subject: str | None, directory: Path) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", subject or "session").strip("-") or "session"
    return directory / f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}.h5"


class OutputPicker(QWidget):
    def __init__(self, directory: str | Path = "out", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.directory = Path(directory)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("session file (.h5)")
        self.edit.setAccessibleName("output file")
        browse = QPushButton("Save as…")
        browse.clicked.connect(self.browse)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(browse)
        #: set by tests and scripted runs to answer the overwrite question without a dialog
        self.confirm_overwrite = self._ask_overwrite

    @property
    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text) if text else None

    def set_path(self, path: str | Path) -> None:
        self.edit.setText(str(path))

    def suggest(self, subject: str | None) -> Path:
        p = suggested_name(subject, self.directory)
        self.set_path(p)
        return p

    def browse(self) -> None:
        start = str(self.path or self.directory)
        # the native dialog asks before overwriting
        path, _ = QFileDialog.getSaveFileName(self, "Session file", start, "HDF5 session (*.h5)")
        if path:
            if not path.endswith(".h5"):
                path += ".h5"
            self.set_path(path)
            self._confirmed = Path(path)

    def checked_path(self, subject: str | None = None) -> Path | None:
        """The path to record to, or None if the user declined to overwrite an existing file."""
        path = self.path or self.suggest(subject)
        if path.exists() and getattr(self, "_confirmed", None) != path:
            if not self.confirm_overwrite(path):
                return None
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _ask_overwrite(self, path: Path) -> bool:
        answer = QMessageBox.warning(
            self, "File exists",
            f"{path}\nalready exists. Overwrite it? The recording in it will be lost.",
            QMessageBox.Yes | QMessageBox.Cancel, QMessageBox.Cancel)
        return answer == QMessageBox.Yes
