"""Where the session file goes: a configured data folder and a proposed name in it.

Files go into the data folder (chosen once with **Folder…**, remembered in the user's
settings; ``MYOFORCE_DATA_DIR`` overrides it; default ``~/myoforce-data``), never
relative to wherever the app was started. The name proposed is
``<subject>-<yyyymmdd>-<nn>.h5`` with the next free number, and the next one is proposed
after every run, so Run never asks to overwrite the file just written. A name the
operator typed is kept; an existing file is never overwritten without asking.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton,
                               QVBoxLayout, QWidget)

SETTINGS_KEY = "data_folder"


def default_data_folder() -> Path:
    env = os.environ.get("MYOFORCE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    saved = QSettings("myoforce", "myoforce").value(SETTINGS_KEY)
    return Path(str(saved)).expanduser() if saved else Path.home() / "myoforce-data"


def next_name(subject: str | None, directory: Path, today: dt.date | None = None) -> Path:
    """``directory/<subject>-<yyyymmdd>-<nn>.h5`` with the lowest ``nn`` not taken."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", subject or "session").strip("-") or "session"
    day = f"{today or dt.date.today():%Y%m%d}"
    n = 1
    while (directory / f"{stem}-{day}-{n:02d}.h5").exists():
        n += 1
    return directory / f"{stem}-{day}-{n:02d}.h5"


class OutputPicker(QWidget):
    def __init__(self, directory: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.directory = Path(directory) if directory is not None else default_data_folder()
        self.auto = True             # the name shown was proposed (not typed): it may move on
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("proposed when you Run: <subject>-<date>-<nn>.h5")
        self.edit.setAccessibleName("output file")
        self.edit.textEdited.connect(self._typed)
        browse = QPushButton("Save as…")
        browse.clicked.connect(self.browse)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        folder = QPushButton("Folder…")
        folder.setToolTip("The data folder session files go into (remembered)")
        folder.clicked.connect(self.choose_folder)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)
        frow = QHBoxLayout()
        frow.setContentsMargins(0, 0, 0, 0)
        frow.addWidget(self.folder_label, 1)
        frow.addWidget(folder)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addLayout(frow)
        self._show_folder()
        #: set by tests and scripted runs to answer the overwrite question without a dialog
        self.confirm_overwrite = self._ask_overwrite

    @property
    def path(self) -> Path | None:
        """The file to record to: a relative name is inside the data folder."""
        text = self.edit.text().strip()
        if not text:
            return None
        p = Path(text).expanduser()
        if p.suffix.lower() not in (".h5", ".hdf5"):
            p = p.with_name(p.name + ".h5")
        return p if p.is_absolute() else self.directory / p

    def set_path(self, path: str | Path) -> None:
        self.auto = False
        self.edit.setText(str(path))

    def set_directory(self, directory: str | Path, remember: bool = False) -> None:
        self.directory = Path(directory)
        if remember:
            QSettings("myoforce", "myoforce").setValue(SETTINGS_KEY, str(self.directory))
        self._show_folder()

    def _show_folder(self) -> None:
        self.folder_label.setText(f"Data folder: {self.directory}")
        self.folder_label.setToolTip(str(self.directory))

    def _typed(self, _text: str) -> None:
        self.auto = False

    def suggest(self, subject: str | None) -> Path:
        """Propose the next free name for ``subject`` in the data folder."""
        p = next_name(subject, self.directory)
        self.edit.setText(p.name)
        self.auto = True
        return p

    def propose_next(self, subject: str | None) -> Path | None:
        """After a run, or when the subject changes: move a proposed (or just used)
        name on; a name the operator typed and has not used yet stays."""
        current = self.path
        if self.auto or current is None or current.exists():
            return self.suggest(subject)
        return None

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data folder", str(self.directory))
        if path:
            self.set_directory(path, remember=True)

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
