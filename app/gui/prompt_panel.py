"""Operator prompts as a non-blocking panel: "set the length, enter it, Continue".

The panel sits above the live trace; the window stays live (and STOP stays reachable)
while it waits. A length request gets a number box; a text request a line; a plain
prompt only Continue. A non-blocking length prompt (optimal length: each length entered
is twitched at) also gets "Done", which answers None ("no more lengths").

Enter (Return or the keypad's Enter) confirms every prompt: in the number box, in the
text line, on the buttons, anywhere in the panel; the input has the focus when a
prompt appears.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QDoubleSpinBox, QFrame, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QVBoxLayout, QWidget)

UNITS = {"_mm": " mm", "_mA": " mA", "_ms": " ms", "_hz": " Hz", "_g": " g", "_s": " s"}


class PromptPanel(QFrame):
    """Shows one prompt at a time; emits ``answered(prompt_id, value)``."""

    answered = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("promptPanel")
        self.setStyleSheet("QFrame#promptPanel { background: #fff8d6; border: 2px solid #e0b000;"
                           " border-radius: 6px; } QLabel { font-size: 14px; }")
        self.prompt_id: Any = None
        self._requested: str | None = None
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.value_label = QLabel()
        self.number = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=1e5)
        self.number.setMinimumWidth(110)
        self.line = QLineEdit()
        self.cont = QPushButton("Continue")
        self.cont.setDefault(True)
        self.cont.clicked.connect(self._continue)
        self.done = QPushButton("Done")
        self.done.setToolTip("No more lengths: go on with the protocol")
        self.done.clicked.connect(lambda: self._answer(None))
        self.line.returnPressed.connect(self._continue)
        # a spin box swallows Enter (no default button outside a dialog): take it here
        self.number.lineEdit().returnPressed.connect(self._continue)
        for key in (Qt.Key_Return, Qt.Key_Enter):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.WidgetWithChildrenShortcut)
            sc.activated.connect(self._continue)
        row = QHBoxLayout()
        row.addWidget(self.value_label)
        row.addWidget(self.number)
        row.addWidget(self.line, 1)
        row.addStretch(0)
        row.addWidget(self.cont)
        row.addWidget(self.done)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addLayout(row)
        self.hide()

    @property
    def pending(self) -> bool:
        return self.prompt_id is not None

    def show_prompt(self, prompt_id: Any, text: str, requested: str | None = None,
                    default: Any = None, blocking: bool = True) -> None:
        self.prompt_id = prompt_id
        self._requested = requested
        self.text.setText(f"<b>Operator:</b> {text}")
        is_text = requested == "text"
        is_number = bool(requested) and not is_text
        self.value_label.setVisible(bool(requested))
        self.number.setVisible(is_number)
        self.line.setVisible(is_text)
        self.done.setVisible(is_number and not blocking)
        if requested:
            name = str(requested)
            suffix = next((u for k, u in UNITS.items() if name.endswith(k)), "")
            base = name[: -len(suffix.strip()) - 1] if suffix else name
            self.value_label.setText(base.replace("_", " ").capitalize())
            self.number.setSuffix(suffix)
        if is_number and isinstance(default, (int, float)):
            self.number.setValue(float(default))
        if is_text:
            self.line.setText("" if default is None else str(default))
        self.show()
        (self.number if is_number else self.line if is_text else self.cont).setFocus()

    def value(self) -> Any:
        if self._requested == "text":
            return self.line.text()
        if self._requested:
            return float(self.number.value())
        return None

    def _continue(self) -> None:
        self._answer(self.value())

    def _answer(self, value: Any) -> None:
        if self.prompt_id is None:
            return
        pid = self.prompt_id
        self.dismiss()
        self.answered.emit(pid, value)

    def dismiss(self) -> None:
        self.prompt_id = None
        self.hide()
