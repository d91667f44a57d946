"""The main window: Acquire and Replay tabs, File menu, and the STOP button.

STOP is in the toolbar, big and red, visible in every mode, and Esc triggers it from
anywhere in the application (an application-wide shortcut): it aborts the protocol and
turns the stimulator output off at once.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (QFileDialog, QLabel, QMainWindow, QMessageBox, QPushButton, QSizePolicy,
                               QTabWidget, QToolBar, QWidget)

from app.gui.acquire_page import AcquirePage
from app.gui.replay_view import ReplayView
from app.gui.style import STOP_STYLE
from app.live.experiment import Experiment

OPEN_FILTER = "Recordings (*.h5 *.hdf5 *.nwb *.ddf *.csv);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self, experiment: Experiment | None = None) -> None:
        super().__init__()
        self.setWindowTitle("myoforce")
        self.resize(1500, 950)
        self.acquire = AcquirePage(experiment)
        self.replays: list[ReplayView] = []
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabsClosable(True)
        self.tabs.tabCloseRequested.connect(self._close_tab)
        self.tabs.addTab(self.acquire, "Acquire")
        self.tabs.tabBar().setTabButton(0, self.tabs.tabBar().ButtonPosition.RightSide, None)
        self.setCentralWidget(self.tabs)
        self.acquire.message.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.acquire.running_changed.connect(self._running_changed)

        # STOP: toolbar (always visible) + Esc application-wide
        self.stop_button = QPushButton("STOP")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setStyleSheet(STOP_STYLE)
        self.stop_button.setToolTip("Abort the protocol and turn the stimulator off now (Esc)")
        self.stop_button.setFocusPolicy(Qt.NoFocus)
        self.stop_button.clicked.connect(self.stop)
        self.stop_shortcut = QShortcut(QKeySequence(Qt.Key_Escape), self)
        self.stop_shortcut.setContext(Qt.ApplicationShortcut)
        self.stop_shortcut.activated.connect(self.stop)
        self.stop_count = 0
        #: asked before quitting while a protocol runs (tests and scripts replace it)
        self.confirm_quit = self._ask_quit
        #: shows a problem the operator must read (a dialog; tests and scripts replace it)
        self.report_error = self._error_dialog

        bar = QToolBar("Main")
        bar.setMovable(False)
        bar.setObjectName("mainToolbar")
        self.addToolBar(Qt.TopToolBarArea, bar)
        open_action = QAction("Open recording…", self)
        open_action.setShortcut(QKeySequence.Open)
        open_action.triggered.connect(self.open_dialog)
        run_action = QAction("Run", self)
        run_action.setShortcut(QKeySequence("Ctrl+R"))
        run_action.triggered.connect(self.acquire.run_protocol)
        pause_action = QAction("Pause/Resume", self)
        pause_action.setShortcut(QKeySequence("Ctrl+P"))
        pause_action.triggered.connect(lambda: self.acquire.run_controls.pause_button.click())
        bar.addAction(open_action)
        bar.addAction(run_action)
        self.state_label = QLabel("  idle  ")
        self.state_label.setStyleSheet("font-weight: bold; padding: 0 12px;")
        bar.addSeparator()
        bar.addWidget(self.state_label)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        bar.addWidget(spacer)
        bar.addWidget(self.stop_button)

        menu = self.menuBar().addMenu("&File")
        menu.addAction(open_action)
        nwb_action = QAction("Export NWB…", self)
        nwb_action.setToolTip("The session of the current replay tab as an NWB file (DANDI)")
        nwb_action.triggered.connect(self.export_nwb_dialog)
        menu.addAction(nwb_action)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(quit_action)
        run_menu = self.menuBar().addMenu("&Run")
        run_menu.addAction(run_action)
        run_menu.addAction(pause_action)
        stop_action = QAction("STOP (Esc)", self)
        stop_action.triggered.connect(self.stop)
        run_menu.addAction(stop_action)
        self.statusBar().showMessage("Connect a rig (Rig tab), fill in the subject, pick a protocol, Run.")

    # --- actions ---
    def stop(self) -> None:
        self.stop_count += 1
        self.acquire.stop()
        for r in self.replays:
            r.pause_playback()

    def _running_changed(self, running: bool) -> None:
        self.state_label.setText("  RUNNING  " if running else "  idle  ")
        self.state_label.setStyleSheet("font-weight: bold; padding: 0 12px;"
                                       + (" color: white; background: #2e7d32;" if running else ""))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open recording", "", OPEN_FILTER)
        if path:
            self.open_file(path)

    def export_nwb_dialog(self) -> None:
        from app.gui.nwb_export import export_dialog
        view = self.tabs.currentWidget()
        export_dialog(self, view if view in self.replays else None,
                      lambda title, text: QMessageBox.information(self, title, text))

    def open_file(self, path: str | Path) -> ReplayView:
        view = ReplayView()
        view.message.connect(lambda text: self.statusBar().showMessage(text, 15000))
        view.failed.connect(lambda text, v=view: self._open_failed(v, text))
        view.open(path)
        self.replays.append(view)
        idx = self.tabs.addTab(view, Path(path).name)
        self.tabs.setCurrentIndex(idx)
        return view

    def _open_failed(self, view: ReplayView, text: str) -> None:
        """A file that cannot be opened gets one dialog naming the problem, and no empty
        tab (a tab whose file was open before and fails on Reload stays)."""
        if view.recording is None and view in self.replays:
            self._close_tab(self.tabs.indexOf(view))
        self.report_error("Cannot open the recording", text)

    def _error_dialog(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    def _close_tab(self, index: int) -> None:
        w = self.tabs.widget(index)
        if w is self.acquire:
            return
        if w in self.replays:
            self.replays.remove(w)
            w.close_view()
        self.tabs.removeTab(index)
        w.deleteLater()

    def _ask_quit(self) -> bool:
        answer = QMessageBox.question(
            self, "Protocol running",
            "A protocol is running. Stop it (stimulator off, file kept) and quit?",
            QMessageBox.Yes | QMessageBox.Cancel, QMessageBox.Cancel)
        return answer == QMessageBox.Yes

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.acquire.running and not self.confirm_quit():
            event.ignore()
            return
        for r in self.replays:
            r.close_view()
        self.acquire.shutdown()
        super().closeEvent(event)
