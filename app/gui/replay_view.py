"""Replay mode: a recorded session opened again to look at, re-analyse and export.

Session information and metadata, the trial list, each trial's plot and results, the
whole recording (overview + detail) with comments added afterwards at a chosen time
(:mod:`app.gui.replay_comment`), trials excluded from the session's numbers with a reason
and included again (:mod:`app.gui.replay_exclusion`; both written into the file the tab
reads, :mod:`app.gui.replay_file`), playback of the continuous stream through the same
live view at 1x–50x, re-analysis with changed settings, export to CSV, PNG and figures
(:mod:`app.gui.replay_export`). Loading, analysis and overview building run on worker
threads; the window stays responsive.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QLabel, QListWidget, QListWidgetItem, QPushButton, QSplitter,
                               QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.gui.analysis_form import AnalysisForm
from app.gui.bridge import run_in_thread
from app.gui.force_frequency_plot import ForceFrequencyPlot
from app.gui.live_view import LiveView
from app.gui.overview import OverviewPlot
from app.gui.playback_controls import PlaybackControls
from app.gui.replay_comment import ReplayCommentBar, add_to_tab_file
from app.gui.replay_exclusion import ExclusionBar, mark_item, summary_part, write_exclusion
from app.gui.replay_export import ReplayExports
from app.gui.replay_file import TabFile
from app.gui.results_tab import results_tab, summary_label
from app.gui.results_table import ResultsTable
from app.gui.session_info import fill_session_info
from app.gui.trial_overlay import TrialOverlay
from app.gui.trial_text import trial_details, trial_list_label
from app.live.aux_ring import RecordingAux
from app.live.playback import Playback
from app.live.ring_buffer import RingBuffer
from app.recording import DisplayForce, Recording, display_samples

PLAYBACK_RING_S = 120.0


class ReplayView(QWidget, ReplayExports):
    message = Signal(str)
    loaded = Signal()
    failed = Signal(str)            # the file could not be opened: one line naming the problem
    analysed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.recording: Recording | None = None
        self.info: dict[str, Any] = {}
        self.session_result: Any = None
        self.config: Any = None
        self.analysis_count = 0
        self.playback: Playback | None = None
        self.load_error: str | None = None
        self.loading = self.analysing = False    # a worker thread reads the file
        self.background = True                   # analyse on a worker thread
        self.file = TabFile(lambda: self.reading, self._reopened)

        # left: session information and the trial list
        self.info_tree = QTreeWidget()
        self.info_tree.setHeaderLabels(["session", ""])
        self.info_tree.setColumnCount(2)
        self.trial_list = QListWidget()
        self.trial_list.currentRowChanged.connect(self.select_trial)
        self.reload_button = QPushButton("Reload file")
        self.reload_button.setToolTip("Read the file again (a session still being written grows)")
        self.reload_button.clicked.connect(lambda: self.path and self.open(self.path))
        self.exclusion_bar = ExclusionBar()
        self.exclusion_bar.exclude_requested.connect(lambda i, why: self.set_exclusion(i, True, why))
        self.exclusion_bar.include_requested.connect(lambda i: self.set_exclusion(i, False))
        self.exclusion_bar.trial_chosen.connect(self._select_index)
        self.exclusion_bar.install_menu(self.trial_list, lambda pos: self._index_at_row(
            self.trial_list.indexAt(pos).row()))
        left = QSplitter(Qt.Vertical)
        left.addWidget(self.info_tree)
        tl = QWidget()
        tll = QVBoxLayout(tl)
        tll.setContentsMargins(0, 0, 0, 0)
        tll.addWidget(QLabel("Trials"))
        tll.addWidget(self.trial_list, 1)
        tll.addWidget(self.exclusion_bar)
        tll.addWidget(self.reload_button)
        left.addWidget(tl)
        left.setSizes([300, 400])

        # trial tab
        self.trial_plot = TrialOverlay(title="Trial")
        self.trial_text = QLabel()
        self.trial_text.setWordWrap(True)
        self.trial_text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        trial_tab = QWidget()
        tt = QVBoxLayout(trial_tab)
        tt.addWidget(self.trial_plot, 1)
        tt.addWidget(self.trial_text)

        # recording tab, with the entry for comments added afterwards under the detail
        self.overview = OverviewPlot()
        self.comment_bar = ReplayCommentBar()
        self.comment_bar.attach(self.overview)
        self.comment_bar.submitted.connect(self.add_comment)
        self.comment_shortcut = self.comment_bar.install_shortcut(
            self, lambda: self.tabs.setCurrentWidget(self.overview))

        # playback tab
        self.ring = RingBuffer(1, 1.0)
        self.live_view = LiveView(self.ring, title="Playback")
        self.live_view.before_redraw = self._tick
        self.live_view.stream_speed = self._speed
        self.controls = PlaybackControls()
        pb_tab = QWidget()
        pl = QVBoxLayout(pb_tab)
        pl.addWidget(self.controls)
        pl.addWidget(self.live_view, 1)

        # results tab
        self.results_table = ResultsTable()
        self.exclusion_bar.install_menu(self.results_table, self.results_table.trial_at)
        self.ff_plot = ForceFrequencyPlot()
        self.analysis_form = AnalysisForm()
        self.reanalyse_button = QPushButton("Re-analyse")
        self.reanalyse_button.clicked.connect(lambda: self.reanalyse())
        self.summary = summary_label()
        res_tab = results_tab(self.analysis_form, self.reanalyse_button, self.results_table,
                              self.ff_plot, self.summary, self.export_buttons())

        self.tabs = QTabWidget()
        self.tabs.addTab(trial_tab, "Trial")
        self.tabs.addTab(self.overview, "Recording")
        self.tabs.addTab(pb_tab, "Playback")
        self.tabs.addTab(res_tab, "Results")
        self.tabs.currentChanged.connect(lambda i: i != 2 and self.pause_playback())

        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setSizes([320, 1100])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)

    # --- loading ---
    def open(self, path: str | Path, background: bool = True) -> None:
        from app.live.sources import load_for_replay
        self.path = Path(path)
        self.message.emit(f"Opening {self.path} …")
        self.loading = True
        if background:
            run_in_thread(lambda: load_for_replay(self.path), self._loaded, self._load_failed,
                          name="myoforce-load")
        else:
            try:
                loaded = load_for_replay(self.path)
            except Exception as exc:
                self._load_failed(exc)
                return
            self._loaded(loaded, background=False)

    def _loaded(self, value: tuple[Recording, dict], background: bool = True) -> None:
        recording, info = value
        self.loading = False
        self.show_recording(recording, info, background=background, path=self.path)

    def _load_failed(self, exc: BaseException) -> None:
        self.loading = False
        text = str(exc) if str(self.path) in str(exc) else f"{self.path}: {exc}"
        self.load_error = str(exc)
        self.failed.emit(text)
        self.info_tree.clear()
        QTreeWidgetItem(self.info_tree, ["error", str(exc)])
        self.message.emit(f"Could not open {self.path}: {exc}")

    def show_recording(self, recording: Recording, info: dict[str, Any] | None = None,
                       background: bool = True, path: Path | None = None) -> None:
        """Show ``recording``; ``path`` is its file (comments and exclusions are written to it)."""
        self.pause_playback()
        self.recording, self.background = recording, background
        self.file.show(recording, path)
        self.exclusion_bar.set_file(path)
        self.info = dict(info or {})
        self.load_error = None
        self._fill_info()
        self._fill_trials()
        self.ring = RingBuffer.for_duration(PLAYBACK_RING_S, recording.sample_rate_hz)
        self.live_view.set_ring(self.ring)
        self.live_view.set_aux_source(RecordingAux(recording) if recording.aux else None)
        notes = self.info.get("comments") or []      # the session's comments (reader, NWB)
        starts = [(s["sample"], s["step"]) for s in self.info.get("step_starts") or []]
        self.playback = Playback(recording, self.ring, prefill_s=2.0, step_starts=starts)
        self._show_comments(notes)
        steps = self.playback.step_marks           # as the live trace showed them
        self.overview.set_steps([at / recording.sample_rate_hz for at, _ in steps],
                                [name for _, name in steps])
        self.controls.set_playback(self.playback)
        self.comment_bar.set_file(path, recording.duration_s, recording.sample_rate_hz)
        self.overview.set_data(DisplayForce(recording.force_mN), recording.sample_rate_hz,
                               recording.stim_samples,
                               background=background)
        self.loaded.emit()
        if recording.trials:
            self.trial_list.setCurrentRow(0)
        self.reanalyse(background=background)
        state = "" if recording.complete else " (incomplete: still being written or interrupted)"
        self.message.emit(f"Opened {recording.source}{state}")

    def _fill_info(self) -> None:
        fill_session_info(self.info_tree, self.info, self.recording)

    def _show_comments(self, notes: list[dict[str, Any]]) -> None:
        """The session's comments (as ``session_info`` lists them) on both plots and in playback."""
        self.overview.set_comments([c["time_s"] for c in notes], [c["text"] for c in notes])
        if self.playback is not None:
            self.playback.set_comments([(c["sample"], c["text"]) for c in notes])

    def _fill_trials(self, rows: list[dict] | None = None) -> None:
        rec = self.recording
        current = self.trial_list.currentRow()
        self.trial_list.blockSignals(True)
        self.trial_list.clear()
        by_index = {r.get("index"): r for r in rows or []}
        excluded = rec.exclusions if rec else {}
        self.exclusion_bar.set_exclusions(excluded)
        for t in rec.trials if rec else []:
            ex = excluded.get(t.index)
            mark_item(QListWidgetItem(trial_list_label(t, by_index.get(t.index),
                                                       ex.reason if ex else None),
                                      self.trial_list), ex)
        self.trial_list.blockSignals(False)
        if 0 <= current < self.trial_list.count():
            self.trial_list.setCurrentRow(current)

    # --- writing into the file: comments added afterwards, exclusions ---
    @property
    def reading(self) -> str | None:
        """What reads the file on a worker thread now (its handle must stay open), if anything."""
        return ("the file is still being opened" if self.loading else
                "the analysis is still reading the file" if self.analysing else
                "the overview is still being built" if self.overview.building else None)

    def add_comment(self, text: str, at_s: float) -> bool:
        """Add ``text`` at ``at_s`` s to the file as 'myoforce annotate --comment --at' does,
        then draw the file's comments read back; a refusal is said beside the entry."""
        try:
            comment = add_to_tab_file(self.file, text, at_s)
        except Exception as exc:  # UserError: the core's reason; anything else: one line too
            self.comment_bar.refused(str(exc))
            return False
        self.comment_bar.accepted(comment)
        rate = self.recording.sample_rate_hz
        self.message.emit(f"{self.file.path}: comment added at {comment.time_s(rate):g} s: "
                          f"{comment.text}")
        self._read_info_again()
        return True

    def set_exclusion(self, index: int, excluded: bool, reason: str = "") -> bool:
        """Exclude trial ``index`` with ``reason`` or include it again, as 'myoforce annotate
        --exclude-trial N --reason TEXT' / '--include-trial N' do (source 'replay'); shown
        at once (trial list, details, session panel) and analysed again with the settings
        of the analysis shown. A refusal is one line under the control."""
        try:
            now = write_exclusion(self.file, index, excluded, reason)
        except Exception as exc:  # UserError: the core's reason; anything else: one line too
            self.exclusion_bar.refused(str(exc))
            return False
        self.recording.exclusions = now
        what = (f"trial {index} excluded: {now[index].reason}" if excluded else
                f"trial {index} included again")
        self.exclusion_bar.done(what)
        self.message.emit(f"{self.file.path}: {what}")
        self._read_info_again()
        self._fill_trials(self.results_table.rows)
        self.reanalyse(self.config, background=self.background)
        return True

    def _read_info_again(self) -> None:
        """The session information as the file has it now (a write appended an audit row)."""
        from app.recorder.reader import session_info
        try:
            self.info.update(session_info(self.file.path))
        except Exception:  # noqa: BLE001 - it is written; Reload says what is wrong now
            pass
        self._fill_info()
        self._show_comments(self.info.get("comments") or [])

    def _reopened(self, ok: bool) -> None:
        """The samples read through a new handle after a write; the view stays as it is."""
        if not ok:
            return self.open(self.file.path)   # as Reload: says what is wrong now
        self.overview.set_source(DisplayForce(self.recording.force_mN))
        self.live_view.set_aux_source(RecordingAux(self.recording) if self.recording.aux else None)

    # --- trials ---
    def _index_at_row(self, row: int) -> int | None:
        rows = [t.index for t in self.recording.trials] if self.recording else []
        return rows[row] if 0 <= row < len(rows) else None

    def _select_index(self, index: int) -> None:
        rows = [t.index for t in self.recording.trials] if self.recording else []
        if index in rows:
            self.trial_list.setCurrentRow(rows.index(index))

    def select_trial(self, row: int) -> None:
        rec = self.recording
        if rec is None or not 0 <= row < len(rec.trials):
            return
        t = rec.trials[row]
        ex = rec.exclusions.get(t.index)
        self.exclusion_bar.set_trial(t.index)
        force = display_samples(rec.force_mN, t.start_sample, t.stop_sample)  # damaged: NaN
        zero = t.first_stim_sample
        t_ms = (np.arange(force.size) + t.start_sample - zero) * 1000.0 / rec.sample_rate_hz
        r = self.results_table.row_for(t.index) or {"kind": t.kind}
        self.trial_plot.clear()
        self.trial_plot.add_trial(t_ms, force, r, f"trial {t.index}", rec.sample_rate_hz)
        self.trial_text.setText(trial_details(t, r, ex.reason if ex else None))

    # --- analysis ---
    def reanalyse(self, config: Any = None, background: bool = True) -> bool:
        """Analyse the recording with ``config`` (default: the settings form)."""
        rec = self.recording
        if rec is None:
            return False
        if config is None:
            try:
                config = self.analysis_form.config()
            except ValueError as exc:
                self.message.emit(f"Analysis settings: {exc}")
                return False
        self.config = config
        self.analysing = True
        self.reanalyse_button.setEnabled(False)
        self.summary.setText("analysing…")

        def job():
            from app.analysis import analyze_recording
            return analyze_recording(rec, config)

        if background:
            run_in_thread(job, self._analysed, self._analysis_failed, name="myoforce-analysis")
        else:
            try:
                self._analysed(job())
            except Exception as exc:
                self._analysis_failed(exc)
        return True

    def _analysed(self, result: Any) -> None:
        self.session_result = result
        self.analysing = False
        self.analysis_count += 1
        rows = [t.to_dict() for t in result.trials]
        self.results_table.set_results(rows)
        self._fill_trials(rows)
        s = result.summary or {}
        ff = s.get("force_frequency") or {}
        self.ff_plot.set_points(ff.get("frequency_hz", []), ff.get("force_mN", []))
        from app.labels import summary_parts
        bits = summary_parts(s) + summary_part(s)
        if s.get("error"):
            bits.append(f"<span style='color:#b00020'>{s['error']}</span>")
        self.summary.setText(f"<b>Session summary</b> (analysis #{self.analysis_count}): "
                             + " · ".join(bits))
        self.reanalyse_button.setEnabled(True)
        self.select_trial(max(0, self.trial_list.currentRow()))
        self.analysed.emit()

    def _analysis_failed(self, exc: BaseException) -> None:
        self.analysing = False
        self.reanalyse_button.setEnabled(True)
        self.summary.setText(f"analysis failed: {exc}")
        self.message.emit(f"Analysis failed: {exc}")

    # --- playback ---
    def _tick(self) -> None:
        if self.playback is not None:
            self.playback.tick()
            self.controls.update_position()

    def _speed(self) -> float:
        """Playback speed: the live view's trace scrolls at the sample rate times this."""
        return self.playback.speed if self.playback is not None else 1.0

    def pause_playback(self) -> None:
        self.controls.pause()

    def close_view(self) -> None:
        self.pause_playback()
        self.live_view.timer.stop()
        if not self.reading:            # the file is free at once (a write in another tab)
            self.overview.set_source(None)
            self.file.close()
