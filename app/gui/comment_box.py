"""The comment box under the live trace: type a line, press Enter, and it is recorded
at the current sample (LabChart's comment bar). Ctrl+M (``SHORTCUT``) focuses it from
anywhere on the acquire page, so a technician can comment without the mouse.

Only the entry: the page hands the text to :meth:`app.live.experiment.Experiment.add_comment`
(the rule and the writing are in ``app.recorder.comments``) and shows a refusal here.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from app.recorder.comments import MAX_COMMENT_CHARS

SHORTCUT = "Ctrl+M"


class CommentBox(QWidget):
    submitted = Signal(str)      # the text as typed (checked by the core)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(f"Comment at the current sample ({SHORTCUT}), Enter to add: "
                                     f"e.g. re-tied tendon")
        self.edit.setAccessibleName("comment")
        self.edit.setToolTip(f"A one-line note (at most {MAX_COMMENT_CHARS} characters: longer is refused, "
                             "never cut) recorded in the file at the current sample; shown on "
                             "the trace and in the Log")
        self.add_button = QPushButton("Add comment")
        self.status = QLabel("")
        self.status.setStyleSheet("color: #b00020")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Comment"))
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.add_button)
        lay.addWidget(self.status)
        self.edit.returnPressed.connect(self._submit)
        self.add_button.clicked.connect(self._submit)
        self.edit.textEdited.connect(lambda _t: self.status.setText(""))

    def install_shortcut(self, owner: QWidget) -> QShortcut:
        """Ctrl+M on ``owner`` (and its children) focuses the box."""
        sc = QShortcut(QKeySequence(SHORTCUT), owner)
        sc.activated.connect(self.focus)
        return sc

    def focus(self) -> None:
        self.edit.setFocus()
        self.edit.selectAll()

    def _submit(self) -> None:
        self.submitted.emit(self.edit.text())

    def accepted(self) -> None:
        """The comment was recorded: clear the box for the next one."""
        self.edit.clear()
        self.status.setText("")

    def refused(self, reason: str) -> None:
        """Keep the text (to fix or add later) and say why it was not recorded."""
        self.status.setText(reason)
