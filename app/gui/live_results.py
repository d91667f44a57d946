"""The running protocol's results in acquire mode: the per-trial table, the latest
contraction over the earlier ones, and force–frequency, filled in from the runner's
events (``TrialRecorded``, ``TrialAnalysed``, ``StepStarted``) on the GUI thread.

A row goes into the table at once; the two plots are updated a frame or two later, one
job per frame, so each repaints in a paint pass of its own instead of all of them in
one long pass after every trial (the live trace keeps its frame rate).
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer

from app.gui.force_frequency_plot import ForceFrequencyPlot
from app.gui.results_table import ResultsTable
from app.gui.trial_overlay import TrialOverlay
from app.live.protocol_marks import trial_label
from app.live.ring_buffer import RingBuffer

#: how often a pending plot update is run (ms): about one per frame
DEFER_INTERVAL_MS = 20


class LiveResults(QObject):
    """The results widgets of one acquire page and what feeds them.

    ``ring`` is the live ring buffer: an analysed trial's samples are copied from it as
    the analysis arrives, before the ring moves on.
    """

    def __init__(self, ring: RingBuffer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ring = ring
        self.table = ResultsTable()
        self.overlay = TrialOverlay()
        self.ff_plot = ForceFrequencyPlot()
        self._trials: dict[int, Any] = {}        # trial index -> its TrialRecorded
        self._step_kinds: dict[int, str] = {}    # step index -> kind, for force-frequency
        self._deferred: deque[Callable[[], None]] = deque()
        self._deferred_timer = QTimer(self)
        self._deferred_timer.setInterval(DEFER_INTERVAL_MS)
        self._deferred_timer.timeout.connect(self._run_deferred)

    def clear(self) -> None:
        """Forget the previous run (pending plot updates too)."""
        self._deferred.clear()
        self._trials.clear()
        self._step_kinds.clear()
        self.table.clear()
        self.overlay.clear()
        self.ff_plot.clear()

    def step_started(self, index: int, kind: str) -> None:
        """A force-frequency step starts its own curve."""
        self._step_kinds[index] = kind
        if kind == "force_frequency":
            self.ff_plot.clear()

    def trial_recorded(self, ev: Any) -> None:
        self._trials[ev.trial_index] = ev

    def trial_analysed(self, ev: Any) -> None:
        result = dict(ev.result or {})
        row = {"index": ev.trial_index, "step": ev.step, "kind": ev.kind,
               "frequency_hz": ev.frequency_hz, "pulses": ev.pulses, "current_mA": ev.current_mA,
               "length_mm": ev.length_mm, "status": ev.status}
        row.update({k: v for k, v in result.items() if v is not None or k not in row})
        row["index"], row["step"] = ev.trial_index, ev.step
        self.table.add_result(row)
        rec = self._trials.get(ev.trial_index)
        if rec is not None:
            snap = self.ring.read(rec.start_sample, rec.stop_sample)   # now, before the ring moves on
            if len(snap):
                zero = rec.first_pulse_sample if rec.first_pulse_sample is not None else rec.start_sample
                t_ms = (np.arange(len(snap)) + snap.first_sample - zero) * 1000.0 / snap.sample_rate_hz
                label = trial_label(ev.kind, ev.trial_index, ev.frequency_hz)
                self._later(lambda: self.overlay.add_trial(t_ms, snap.force_mN, row, label,
                                                           snap.sample_rate_hz))
        # a force-frequency step's single pulse is its 1 Hz point (as in the analysis)
        freq = ev.frequency_hz or (1.0 if ev.kind == "twitch" else None)
        if self._step_kinds.get(ev.step_index) == "force_frequency" and freq:
            peak = row.get("peak_force_mN")
            self._later(lambda: self.ff_plot.add_point(freq, peak))

    def _later(self, job: Callable[[], None]) -> None:
        """Run ``job`` a frame or two later, one job per frame: each plot then repaints in a
        paint pass of its own instead of all of them in one long pass after every trial."""
        self._deferred.append(job)
        if not self._deferred_timer.isActive():
            self._deferred_timer.start()

    def _run_deferred(self) -> None:
        if self._deferred:
            self._deferred.popleft()()
        if not self._deferred:
            self._deferred_timer.stop()

    def flush(self) -> None:
        """Run all pending plot updates now (the end of a run, tests, screenshots)."""
        while self._deferred:
            self._deferred.popleft()()
