"""The GUI shows a trial's quality flags by the core's rule (app.analysis.results.flag_codes):
the results table's flags column (codes; their texts in the tooltip) and the overlay's
Pt/Po label (⚑ and the codes), from the trial's to_dict() row."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.analysis.flags import Flag
from app.analysis.results import TrialResult

pytestmark = pytest.mark.gui


def _row() -> dict:
    return TrialResult(index=2, kind="tetanus", peak_force_mN=400.0, time_to_peak_ms=120.0,
                       flags=[Flag("baseline-drift", "drift 4 % of Po"),
                              Flag("tpt-ambiguous", "flat plateau")]).to_dict()


def test_the_results_table_s_flags_column_lists_the_codes_and_their_texts(qtbot):
    from app.gui.results_table import COLUMNS, ResultsTable
    table = ResultsTable()
    qtbot.addWidget(table)
    table.add_result(_row())
    cell = table.results.index(0, [c[0] for c in COLUMNS].index("flags"))
    assert table.results.data(cell, Qt.DisplayRole) == "baseline-drift tpt-ambiguous"
    assert table.results.data(cell, Qt.ToolTipRole) == ("baseline-drift: drift 4 % of Po\n"
                                                        "tpt-ambiguous: flat plateau")


def test_the_overlay_s_peak_label_carries_the_codes(qtbot):
    from app.gui.trial_overlay import TrialOverlay
    overlay = TrialOverlay()
    qtbot.addWidget(overlay)
    t = np.linspace(-10.0, 300.0, 311)
    overlay.add_trial(t, np.clip(t, 0.0, None), _row())
    labels = [item.textItem.toPlainText() for item in overlay._labels]
    assert labels == ["Po 400 mN\nTPT 120.0 ms\n⚑ baseline-drift, tpt-ambiguous"]
