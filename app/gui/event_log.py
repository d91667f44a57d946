"""A short, timestamped log of what happened (steps, prompts, warnings, errors)."""
from __future__ import annotations

import time

from PySide6.QtWidgets import QPlainTextEdit, QWidget


class EventLog(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.lines: list[str] = []

    def log(self, text: str, level: str = "info") -> None:
        line = f"{time.strftime('%H:%M:%S')}  {'⚠ ' if level == 'warning' else '✖ ' if level == 'error' else ''}{text}"
        self.lines.append(line)
        self.appendPlainText(line)
