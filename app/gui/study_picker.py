"""The study row of the Subject tab: open a study folder, pick one of its animals and a
timepoint; the subject metadata and the output file come from the study
(:func:`app.study.run_link.study_session`: the blinded code as the group, the session
filed under ``sessions/<timepoint>/<animal>.h5``). The rules live in ``app.study``; this
widget only offers them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QGridLayout, QLabel, QPushButton, QWidget,
)

from app.errors import UserError


class StudyPicker(QWidget):
    """Emits ``chosen(metadata, output path)`` when an animal and timepoint are picked."""

    chosen = Signal(dict, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.root: Path | None = None
        self.link: Any = None                 # app.study.run_link.StudySession
        self.label = QLabel("No study: enter the subject below, or open a study folder.")
        self.label.setWordWrap(True)
        self.open_button = QPushButton("Study…")
        self.open_button.setToolTip("Open a study folder (myoforce study init)")
        self.open_button.clicked.connect(self.browse)
        self.animal = QComboBox()
        self.animal.setAccessibleName("study animal")
        self.timepoint = QComboBox()
        self.timepoint.setAccessibleName("study timepoint")
        self.animal.activated.connect(lambda _i: self.pick())
        self.timepoint.activated.connect(lambda _i: self.pick())
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        lay = QGridLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.label, 0, 0, 1, 2)
        lay.addWidget(self.open_button, 0, 2)
        lay.addWidget(QLabel("Animal"), 1, 0)
        lay.addWidget(self.animal, 1, 1, 1, 2)
        lay.addWidget(QLabel("Timepoint"), 2, 0)
        lay.addWidget(self.timepoint, 2, 1, 1, 2)
        lay.addWidget(self.error, 3, 0, 1, 3)
        self._enable(False)

    def _enable(self, on: bool) -> None:
        self.animal.setEnabled(on)
        self.timepoint.setEnabled(on)

    def browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Study folder")
        if path:
            self.open(path)

    def open(self, root: str | Path) -> bool:
        """Load the study's animals (allocated, not excluded) and timepoints."""
        from app.study import load_study
        try:
            study = load_study(root)
        except UserError as exc:
            self.error.setText(str(exc))
            return False
        self.root = Path(root)
        self.link = None
        ids = [a for a in sorted(study.animals) if a in study.codes
               and study.animals[a].excluded is None]
        self.animal.clear()
        self.animal.addItems(ids)
        self.timepoint.clear()
        self.timepoint.addItems(study.design.timepoints)
        state = "blinded" if study.blinded else "unblinded"
        self.label.setText(f"Study: {study.design.title} ({state}; {len(ids)} animals "
                           f"ready)")
        self.error.setText("" if ids else "No allocated animal yet: run 'myoforce study "
                                          "randomise'.")
        self._enable(bool(ids))
        return True

    def pick(self) -> bool:
        """Fill the subject from the study for the chosen animal and timepoint."""
        from app.study.run_link import study_session
        if self.root is None or not self.animal.currentText():
            return False
        try:
            self.link = study_session(self.root, self.animal.currentText(),
                                      self.timepoint.currentText() or None)
        except UserError as exc:
            self.link = None
            self.error.setText(str(exc))
            return False
        self.error.setText("")
        self.chosen.emit(dict(self.link.metadata), self.link.out)
        return True

    def link_for(self, path: str | Path | None) -> Any:
        """The picked study session if ``path`` is its file (a run into it is a study
        session: filed in the study; on the simulated rig, the animal's), else None."""
        if self.link is not None and path is not None and Path(path) == self.link.out:
            return self.link
        return None

    def session_ended(self, path: Path | None, status: str | None) -> None:
        """Record a session written to the picked study file in the study log."""
        from app.study.run_link import file_session
        link = self.link_for(path)
        if link is not None:
            file_session(link, status)
            self.pick()                         # the next file for this animal
