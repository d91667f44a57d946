"""Excluding a trial from the session's numbers in replay, with a reason, and including
it again: the GUI's ``myoforce annotate FILE --exclude-trial N --reason TEXT`` and
``--include-trial N``.

Reviewing a session one finds a contraction that must not count (the animal moved, the
electrode slipped). The rules and the writing are the core's
(:mod:`app.recorder.exclusions`: :func:`check_excludable`, :func:`validate_reason`,
:func:`set_trial_exclusion`, stored with source ``replay``); the analysis then flags the
trial ``excluded`` and leaves it out of every session-level number. The control sits
under the trial list, so it is there whatever the tab: **Exclude trial…** opens a reason
field for the selected trial (required; Enter or **Exclude** writes it, **Cancel**
closes it; Esc stays STOP, as everywhere), an excluded trial offers **Include trial**.
The trial list's and the results table's context menus offer the same for the trial
under the pointer. A file that takes no exclusions (an import, an NWB export, a session
still being recorded) shows the control disabled with the core's reason.
"""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any, Callable, Mapping

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractScrollArea, QHBoxLayout, QLabel, QLineEdit,
                               QListWidgetItem, QMenu, QPushButton, QVBoxLayout, QWidget)

from app.errors import UserError
from app.gui.replay_file import TabFile
from app.gui.results_table import EXCLUDED_COLOUR
from app.recorder.exclusions import (MAX_REASON_CHARS, TrialExclusion, check_excludable,
                                     set_trial_exclusion, validate_reason)

#: stored as the exclusion's ``source`` (``annotate`` from the command line)
SOURCE = "replay"
REFUSED, DONE = "color: #b00020", "color: #2e7d32"


class ExclusionBar(QWidget):
    exclude_requested = Signal(int, str)    # trial, reason as typed: checked and written by the view
    include_requested = Signal(int)         # trial
    trial_chosen = Signal(int)              # a context menu's trial: the view selects it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trial: int | None = None
        self.exclusions: Mapping[int, TrialExclusion] = {}
        self.unavailable: str | None = "no file"   # why this file takes no exclusions
        self.exclude_button = QPushButton("Exclude trial…")
        self.exclude_button.setToolTip("Leave the selected trial out of the session's numbers "
                                       "(Pt, Po, force–frequency, …), with a reason; it is "
                                       "still measured and shown")
        self.include_button = QPushButton("Include trial")
        self.include_button.setToolTip("Count the selected trial in the session's numbers again")
        self.prompt = QLabel("")
        self.reason = QLineEdit()
        self.reason.setAccessibleName("exclusion reason")
        self.reason.setPlaceholderText("why it must not count, e.g. animal moved")
        self.reason.setToolTip(f"Required: one line, at most {MAX_REASON_CHARS} characters")
        self.confirm_button = QPushButton("Exclude")
        self.cancel_button = QPushButton("Cancel")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.exclude_button)
        buttons.addWidget(self.include_button)
        buttons.addStretch(1)
        self.ask_row = QWidget()
        ask = QHBoxLayout(self.ask_row)
        ask.setContentsMargins(0, 0, 0, 0)
        ask.addWidget(self.reason, 1)
        ask.addWidget(self.confirm_button)
        ask.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(buttons)
        lay.addWidget(self.prompt)
        lay.addWidget(self.ask_row)
        lay.addWidget(self.status)
        self.exclude_button.clicked.connect(self.ask)
        self.include_button.clicked.connect(self._include)
        self.reason.returnPressed.connect(self._exclude)
        self.confirm_button.clicked.connect(self._exclude)
        self.cancel_button.clicked.connect(self.cancel)
        self.reason.textEdited.connect(lambda _t: self.status.setText(""))
        self.set_file(None)

    def set_file(self, path: Path | None) -> None:
        """The recording shown: the control is enabled if the core would take an
        exclusion for ``path`` (else disabled, the reason under it)."""
        self.unavailable = "no file to exclude trials in" if path is None else None
        if path is not None:
            try:
                check_excludable(path)
            except UserError as exc:
                self.unavailable = str(exc)
        self.trial = None
        self.cancel()
        self._say(self.unavailable or "", REFUSED)
        self._update()

    @property
    def can_exclude(self) -> bool:
        return self.unavailable is None

    def set_exclusions(self, exclusions: Mapping[int, TrialExclusion]) -> None:
        """The exclusions in force (``Recording.exclusions``)."""
        self.exclusions = dict(exclusions)
        self._update()

    def set_trial(self, index: int | None) -> None:
        """The selected trial; a reason being typed for another trial is dropped."""
        if index != self.trial:
            self.cancel()
        self.trial = index
        self._update()

    def ask(self) -> None:
        """Open the reason field for the selected trial (if it can be excluded)."""
        if self.exclude_button.isEnabled():
            self.prompt.setText(f"Exclude trial {self.trial} because:")
            self.prompt.show()
            self.ask_row.show()
            self.reason.setFocus()
            self.reason.selectAll()

    def cancel(self) -> None:
        self.reason.clear()
        self.prompt.hide()
        self.ask_row.hide()

    def refused(self, reason: str) -> None:
        """Keep what was typed (to fix it) and say in one line why nothing was written."""
        self._say(reason.splitlines()[0] if reason else "not written", REFUSED)

    def done(self, text: str) -> None:
        self.cancel()
        self._say(text, DONE)

    def menu_for(self, index: int) -> QMenu:
        """The context menu for trial ``index``: Exclude trial N… or Include trial N
        (disabled, the reason as its tooltip, when the file takes no exclusions)."""
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        if index in self.exclusions:
            action = menu.addAction(f"Include trial {index}")
            action.triggered.connect(lambda: (self.trial_chosen.emit(index),
                                              self.include_requested.emit(index)))
        else:
            action = menu.addAction(f"Exclude trial {index}…")
            action.triggered.connect(lambda: (self.trial_chosen.emit(index), self.ask()))
        action.setEnabled(self.can_exclude)
        action.setToolTip(self.unavailable or "")
        return menu

    def install_menu(self, widget: QAbstractScrollArea,
                     trial_at: Callable[[QPoint], int | None]) -> None:
        """Right-click on ``widget`` (the trial list, the results table) opens
        :meth:`menu_for` the trial ``trial_at(pos)`` names (none: no menu)."""
        def popup(pos: QPoint) -> None:
            index = trial_at(pos)
            if index is not None:
                self.menu_for(index).popup(widget.viewport().mapToGlobal(pos))
        widget.setContextMenuPolicy(Qt.CustomContextMenu)
        widget.customContextMenuRequested.connect(popup)

    def _update(self) -> None:
        excluded = self.trial in self.exclusions
        self.exclude_button.setVisible(not excluded)
        self.include_button.setVisible(excluded)
        for button in (self.exclude_button, self.include_button):
            button.setEnabled(self.can_exclude and self.trial is not None)

    def _say(self, text: str, style: str) -> None:
        self.status.setStyleSheet(style)
        self.status.setText(text)
        self.status.setToolTip(text)

    def _exclude(self) -> None:
        if self.trial is not None and self.ask_row.isVisibleTo(self):
            self.exclude_requested.emit(self.trial, self.reason.text())

    def _include(self) -> None:
        if self.trial is not None:
            self.include_requested.emit(self.trial)


def write_exclusion(file: TabFile, trial: int, excluded: bool, reason: str = ""
                    ) -> dict[int, TrialExclusion]:
    """Exclude ``trial`` of the file a replay tab reads (or include it again), as
    ``annotate --exclude-trial/--include-trial`` does; returns the exclusions now in
    force. The reason and the file are checked first (a refusal writes nothing and keeps
    the tab's read handle), then it is written with the handle released (:class:`TabFile`)."""
    return file.write(lambda path: set_trial_exclusion(path, trial, excluded, reason,
                                                       source=SOURCE),
                      check=lambda path: (validate_reason(reason, required=excluded),
                                          check_excludable(path)))


def mark_item(item: QListWidgetItem, exclusion: TrialExclusion | None) -> None:
    """A trial list line struck through and greyed when its trial is excluded."""
    if exclusion is None:
        return
    font = item.font()
    font.setStrikeOut(True)
    item.setFont(font)
    item.setForeground(QColor(EXCLUDED_COLOUR))
    by = ", ".join(x for x in (exclusion.source, exclusion.time_utc[:19]) if x)
    item.setToolTip(f"excluded from the session's numbers: {exclusion.reason}"
                    + (f" ({by})" if by else ""))


def summary_part(summary: Mapping[str, Any]) -> list[str]:
    """The session summary's mention of the trials left out (rich text), if any."""
    listed = summary.get("excluded_trials") or []
    if not listed:
        return []
    return ["excluded: " + ", ".join(f"trial {e.get('trial')} ({escape(str(e.get('reason')))})"
                                     for e in listed)]
