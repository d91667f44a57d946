"""Adding a comment afterwards in replay: the entry under the detail plot.

LabChart lets you comment anywhere on a recorded trace; here a one-line note is added at
a chosen time of a finished session, marked as added afterwards, exactly as
``myoforce annotate FILE --comment TEXT --at SECONDS`` adds it: the rules and the writing
are :mod:`app.recorder.comments` (:func:`check_commentable`, :func:`validate_comment`,
:func:`comment_sample`, :func:`add_comment_afterwards`). The time follows the centre of
the detail plot until one is chosen (a click on the detail, or typed); a chosen time is
kept while it stays in view. A file that cannot take comments (an import, an NWB export,
a session still being recorded) shows the entry disabled with the core's reason.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QWidget)

from app.errors import UserError
from app.gui.comment_box import SHORTCUT
from app.gui.replay_file import TabFile
from app.recorder.comments import (MAX_COMMENT_CHARS, Comment, add_comment_afterwards,
                                   check_commentable, comment_sample, validate_comment)

#: stored as the comment's ``source`` (``annotate`` from the command line)
SOURCE = "replay"
REFUSED, DONE = "color: #b00020", "color: #2e7d32"


class ReplayCommentBar(QWidget):
    submitted = Signal(str, float)    # text as typed, time (s): checked and written by the view
    time_changed = Signal(object)     # where the next comment goes (s), None: no comments here

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.rate = 1.0
        self.chosen = False           # the time was chosen (click, typed), not the view's centre
        self._setting = False
        self.edit = QLineEdit()
        self.edit.setAccessibleName("comment")
        self.edit.setPlaceholderText(f"Comment ({SHORTCUT}), Enter to add: e.g. re-tied tendon")
        self.edit.setToolTip(f"A one-line note (at most {MAX_COMMENT_CHARS} characters) added "
                             "to the file at the time beside it, marked as added afterwards")
        self.at = QDoubleSpinBox()
        self.at.setAccessibleName("comment time")
        self.at.setSuffix(" s")
        self.at.setKeyboardTracking(False)
        self.at.setToolTip("Where the comment goes, in seconds from the start: the centre of "
                           "the detail plot, or where you click on it (dotted line)")
        self.add_button = QPushButton("Add comment")
        self.status = QLabel("")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Comment"))
        lay.addWidget(self.edit, 1)
        lay.addWidget(QLabel("at"))
        lay.addWidget(self.at)
        lay.addWidget(self.add_button)
        lay.addWidget(self.status, 1)
        self.edit.returnPressed.connect(self._submit)
        self.at.lineEdit().returnPressed.connect(self._submit)
        self.add_button.clicked.connect(self._submit)
        self.edit.textEdited.connect(lambda _t: self.status.setText(""))
        self.at.valueChanged.connect(self._time_edited)
        self.set_file(None, 0.0, 1.0)

    def attach(self, overview: Any) -> None:
        """Sit under ``overview``'s detail plot (:class:`app.gui.overview.OverviewPlot`):
        follow its span, take its clicks, show the time as its dotted cursor."""
        overview.add_under_detail(self)
        overview.span_changed.connect(self.follow_span)
        overview.detail_clicked.connect(self.choose)
        self.time_changed.connect(overview.set_cursor)

    def set_file(self, path: Path | None, duration_s: float, rate_hz: float) -> None:
        """The recording shown: the entry is enabled if the core would take a comment
        for ``path`` (else disabled, the reason beside it)."""
        self.path, self.rate, self.chosen = path, float(rate_hz), False
        reason = "no file to add comments to" if path is None else None
        if path is not None:
            try:
                check_commentable(path)
            except UserError as exc:
                reason = str(exc)
        self._setting = True
        # every sample reachable: 4 decimals at 10 kHz, 3 at 1 kHz
        self.at.setDecimals(min(6, max(2, math.ceil(math.log10(max(self.rate, 1.0))))))
        self.at.setRange(0.0, max(0.0, duration_s))
        self.at.setValue(0.0)
        self._setting = False
        for w in (self.edit, self.at, self.add_button):
            w.setEnabled(reason is None)
        self._say(reason or "", REFUSED)
        self.time_changed.emit(None if reason else self.at.value())

    @property
    def can_comment(self) -> bool:
        return self.add_button.isEnabled()

    def follow_span(self, t0: float, t1: float) -> None:
        """The detail shows ``[t0, t1]``: the time goes to its centre unless one was
        chosen and is still in view."""
        if self.chosen and t0 <= self.at.value() <= t1:
            return
        self._set_time((t0 + t1) / 2.0, chosen=False)

    def choose(self, t_s: float) -> None:
        """A time picked on the plot (a click), snapped to the nearest sample."""
        if self.can_comment:
            self._set_time(round(t_s * self.rate) / self.rate, chosen=True)

    def focus(self) -> None:
        self.edit.setFocus()
        self.edit.selectAll()

    def install_shortcut(self, owner: QWidget, before: Callable[[], None]) -> QShortcut:
        """Ctrl+M on ``owner`` runs ``before`` (shows the plot) and focuses the entry."""
        sc = QShortcut(QKeySequence(SHORTCUT), owner)
        sc.activated.connect(lambda: (before(), self.focus()))
        return sc

    def accepted(self, comment: Comment) -> None:
        """Written: clear the text for the next one and say where it went."""
        self.edit.clear()
        self._say(f"added at {comment.time_s(self.rate):.{self.at.decimals()}f} s "
                  f"(sample {comment.sample}, marked as added afterwards)", DONE)

    def refused(self, reason: str) -> None:
        """Keep the text (to fix it) and say in one line why nothing was written."""
        self._say(reason.splitlines()[0] if reason else "not added", REFUSED)

    def _say(self, text: str, style: str) -> None:
        self.status.setStyleSheet(style)
        self.status.setText(text)
        self.status.setToolTip(text)

    def _set_time(self, t_s: float, chosen: bool) -> None:
        self._setting = True
        self.at.setValue(t_s)
        self._setting = False
        self.chosen = chosen
        self.time_changed.emit(self.at.value() if self.can_comment else None)

    def _time_edited(self, value: float) -> None:
        if not self._setting:
            self.chosen = True
            self.time_changed.emit(value)

    def _submit(self) -> None:
        if self.can_comment:
            self.at.interpretText()
            self.submitted.emit(self.edit.text(), self.at.value())


def add_to_tab_file(file: TabFile, text: str, at_s: float) -> Comment:
    """Add a comment afterwards to the file a replay tab reads: text, time and file
    checked first (a refusal writes nothing and keeps the tab's read handle), then
    written with the handle released and the file read again (:class:`TabFile`)."""
    return file.write(lambda path: add_comment_afterwards(path, text, at_s, source=SOURCE),
                      check=lambda path: (validate_comment(text), comment_sample(path, at_s)))
