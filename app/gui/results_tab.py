"""The replay's Results tab laid out: the analysis settings and Re-analyse on the left,
the per-trial table over force–frequency on the right, the session summary and the
export buttons below. The view makes the widgets and connects them; this only places them.
"""
from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget


def summary_label() -> QLabel:
    """The session summary's box: larger text on a light panel, selectable to copy."""
    summary = QLabel()
    summary.setObjectName("sessionSummary")
    summary.setStyleSheet("QLabel#sessionSummary { font-size: 14px; padding: 6px; "
                          "background: #eef3fb; border: 1px solid #b8c8e6; border-radius: 4px; }")
    summary.setWordWrap(True)
    summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return summary


def results_tab(form: QWidget, reanalyse: QWidget, table: QWidget, ff_plot: QWidget,
                summary: QWidget, buttons: Sequence[QWidget]) -> QWidget:
    """The tab holding the given widgets (the settings form scrolls; ``buttons`` sit
    right-aligned under the summary)."""
    form_box = QWidget()
    fb = QVBoxLayout(form_box)
    fb.setContentsMargins(0, 0, 0, 0)
    fb.addWidget(QLabel("<b>Analysis settings</b>"))
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(form)
    fb.addWidget(scroll, 1)
    fb.addWidget(reanalyse)
    res_right = QSplitter(Qt.Vertical)
    res_right.addWidget(table)
    res_right.addWidget(ff_plot)
    res_right.setSizes([480, 320])
    res_split = QSplitter(Qt.Horizontal)
    res_split.addWidget(form_box)
    res_split.addWidget(res_right)
    res_split.setSizes([330, 900])
    res_tab = QWidget()
    rl = QVBoxLayout(res_tab)
    rl.addWidget(res_split, 1)
    rl.addWidget(summary)
    row = QHBoxLayout()
    row.addStretch(1)
    for button in buttons:
        row.addWidget(button)
    rl.addLayout(row)
    return res_tab
