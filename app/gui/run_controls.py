"""Run / pause / abort, the output file and the progress through the protocol."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.gui.output_picker import OutputPicker
from app.gui.progress_line import ProgressLine


class RunControls(QWidget):
    run_requested = Signal()
    pause_requested = Signal()
    resume_requested = Signal()
    abort_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.output = OutputPicker()
        self.run_button = QPushButton("▶ Run protocol")
        self.run_button.setToolTip("Run the protocol on the connected rig (Ctrl+R)")
        self.run_button.setStyleSheet("font-weight: bold;")
        self.pause_button = QPushButton("❚❚ Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause between stimuli (Ctrl+P)")
        self.pause_button.toggled.connect(self._pause_toggled)
        self.abort_button = QPushButton("Abort")
        self.abort_button.setToolTip("Stop the protocol; the file is kept (same as STOP)")
        self.run_button.clicked.connect(self.run_requested)
        self.abort_button.clicked.connect(self.abort_requested)
        self.auto_continue = QCheckBox("Auto-continue prompts")
        self.auto_continue.setToolTip("Answer every operator prompt with its default (demo runs)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.abort_button, 1)
        self.progress = ProgressLine()
        self.step_label = QLabel(" ")
        self.step_label.setWordWrap(True)
        #: why the last action could not run, next to the button that was pressed
        self.notice = QLabel()
        self.notice.setObjectName("runNotice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("QLabel#runNotice { background: #fff3e0; color: #8a3c00; "
                                  "border: 1px solid #e65100; border-radius: 4px; padding: 4px; "
                                  "font-weight: bold; }")
        self.notice.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Output"))
        out_row.addWidget(self.output, 1)
        lay.addLayout(out_row)
        lay.addWidget(self.auto_continue)
        lay.addLayout(buttons)
        lay.addWidget(self.notice)
        lay.addWidget(self.progress)
        lay.addWidget(self.step_label)
        self.set_running(False)

    def _pause_toggled(self, on: bool) -> None:
        self.pause_button.setText("▶ Resume" if on else "❚❚ Pause")
        (self.pause_requested if on else self.resume_requested).emit()

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.abort_button.setEnabled(running)
        self.output.setEnabled(not running)
        if not running:
            self.pause_button.blockSignals(True)
            self.pause_button.setChecked(False)
            self.pause_button.setText("❚❚ Pause")
            self.pause_button.blockSignals(False)

    def show_notice(self, text: str) -> None:
        """Say, under the Run button, why something cannot be done now ("" hides it)."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def set_paused(self, paused: bool) -> None:
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.setText("▶ Resume" if paused else "❚❚ Pause")
        self.pause_button.blockSignals(False)

    def set_progress(self, fraction: float | None, text: str = "") -> None:
        self.progress.set_progress(fraction, text)
