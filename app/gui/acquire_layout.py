"""Where acquire mode's widgets sit: the setup tabs (Rig, Subject, Protocol) over the Run
box on the left; the operator prompt, the live trace with the comment box, the
contraction and force–frequency plots, and the Results/Log tabs on the right.

Arrangement only: :class:`~app.gui.acquire_page.AcquirePage` makes and wires the widgets.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QGroupBox, QScrollArea, QSplitter, QTabWidget, QVBoxLayout,
                               QWidget)

LEFT_WIDTH = 400


def setup_tabs(rig_panel: QWidget, study_picker: QWidget, metadata_form: QWidget,
               protocol_panel: QWidget) -> QTabWidget:
    """Rig, Subject (a study's animals above the metadata, scrolling) and Protocol, in
    this order: the page shows one by index when it refuses a Run."""
    tabs = QTabWidget()
    tabs.addTab(rig_panel, "Rig")
    subject = QWidget()
    sl = QVBoxLayout(subject)
    sl.setContentsMargins(0, 0, 0, 0)
    sl.addWidget(study_picker)
    sl.addWidget(metadata_form, 1)
    tabs.addTab(_scroll(subject), "Subject")
    tabs.addTab(protocol_panel, "Protocol")
    return tabs


def setup_column(tabs: QTabWidget, run_controls: QWidget) -> QWidget:
    """The setup tabs over the Run box, in a column of bounded width."""
    run_box = QGroupBox("Run")
    QVBoxLayout(run_box).addWidget(run_controls)
    left = QWidget()
    ll = QVBoxLayout(left)
    ll.setContentsMargins(0, 0, 0, 0)
    ll.addWidget(tabs, 1)
    ll.addWidget(run_box)
    left.setMinimumWidth(LEFT_WIDTH - 60)
    left.setMaximumWidth(LEFT_WIDTH + 160)
    return left


def results_tabs(results_table: QWidget, log: QWidget) -> QTabWidget:
    tabs = QTabWidget()
    tabs.addTab(results_table, "Results")
    tabs.addTab(log, "Log")
    return tabs


def trace_with_comments(live_view: QWidget, comment_box: QWidget) -> QWidget:
    """The live trace with the comment box right under it (where the eyes are)."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(live_view, 1)
    lay.addWidget(comment_box)
    return box


def display_column(prompt_panel: QWidget, live_view: QWidget, trial_overlay: QWidget,
                   ff_plot: QWidget, bottom_tabs: QTabWidget) -> QWidget:
    """The prompt over the live trace, the two plots side by side, and the bottom tabs."""
    plots = QSplitter(Qt.Horizontal)
    plots.addWidget(trial_overlay)
    plots.addWidget(ff_plot)
    plots.setSizes([600, 400])
    vsplit = QSplitter(Qt.Vertical)
    vsplit.addWidget(live_view)
    vsplit.addWidget(plots)
    vsplit.addWidget(bottom_tabs)
    vsplit.setSizes([320, 260, 200])
    right = QWidget()
    rl = QVBoxLayout(right)
    rl.setContentsMargins(0, 0, 0, 0)
    rl.addWidget(prompt_panel)
    rl.addWidget(vsplit, 1)
    return right


def arrange(page: QWidget, left: QWidget, right: QWidget) -> None:
    """The two columns side by side in ``page``; the right one takes the extra width."""
    split = QSplitter(Qt.Horizontal)
    split.addWidget(left)
    split.addWidget(right)
    split.setStretchFactor(1, 1)
    split.setSizes([LEFT_WIDTH, 1000])
    lay = QVBoxLayout(page)
    lay.setContentsMargins(4, 4, 4, 4)
    lay.addWidget(split)


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    return area
