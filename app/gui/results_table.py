"""The per-trial results table: fills in as trials are analysed; exports to CSV.

A trial excluded from the session's numbers (its ``excluded`` flag) is greyed, its
numbers struck through, and the note column says why.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPoint, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from app.analysis.results import flag_codes

COLUMNS: list[tuple[str, str, str]] = [
    # key, header, format
    ("index", "#", "{:d}"),
    ("step", "step", "{}"),
    ("kind", "kind", "{}"),
    ("frequency_hz", "freq (Hz)", "{:g}"),
    ("pulses", "pulses", "{:d}"),
    ("peak_force_mN", "peak (mN)", "{:.1f}"),
    ("time_to_peak_ms", "TPT (ms)", "{:.1f}"),
    ("half_relaxation_ms", "½RT (ms)", "{:.1f}"),
    ("max_dfdt_mN_per_s", "max dF/dt (mN/s)", "{:.0f}"),
    ("baseline_mN", "baseline (mN)", "{:.1f}"),
    ("flags", "flags", "{}"),
    ("error", "note", "{}"),
]


WIDTHS = {"index": 36, "step": 120, "kind": 62, "pulses": 52}
#: an excluded trial's row: its text colour; its numbers struck through
EXCLUDED_COLOUR = "#8a8a8a"


def excluded_text(row: Mapping[str, Any]) -> str | None:
    """The ``excluded`` flag's text (the reason, by what, when) if the row's trial is
    excluded from the session's numbers (``app.analysis.exclusions``), else None."""
    for f in row.get("flags") or []:
        if isinstance(f, Mapping) and f.get("code") == "excluded":
            return str(f.get("text") or "")
    return None


def format_value(value: Any, fmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "–"
    try:
        if fmt == "{:d}":
            return str(int(value))
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


class ResultsModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        key, _h, fmt = COLUMNS[index.column()]
        row = self.rows[index.row()]
        value = row.get(key)
        excluded = excluded_text(row)
        if excluded is not None:
            if role == Qt.ForegroundRole:
                return QBrush(QColor(EXCLUDED_COLOUR))
            if role == Qt.FontRole and key not in ("flags", "error"):
                font = QFont()
                font.setStrikeOut(True)
                return font
            if key == "error" and not value and role in (Qt.DisplayRole, Qt.ToolTipRole):
                return f"excluded: {excluded}"
        if key == "flags":
            flags = [f for f in (value or []) if isinstance(f, Mapping)]
            if role == Qt.DisplayRole:
                return " ".join(flag_codes(row))
            if role == Qt.ToolTipRole and flags:
                return "\n".join(f"{f.get('code')}: {f.get('text')}" for f in flags)
            return None
        if role == Qt.DisplayRole:
            return format_value(value, fmt)
        if role == Qt.TextAlignmentRole and key not in ("step", "kind", "error"):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ToolTipRole and key == "error" and value:
            return str(value)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return COLUMNS[section][1]
        return None

    def append(self, row: Mapping[str, Any]) -> None:
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
        self.rows.append(dict(row))
        self.endInsertRows()

    def reset_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.beginResetModel()
        self.rows = [dict(r) for r in rows]
        self.endResetModel()


class ResultsTable(QTableView):
    """A table of trial results (``TrialResult.to_dict()`` rows)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.results = ResultsModel()
        self.setModel(self.results)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(20)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.Interactive)
        hh.setStretchLastSection(True)
        for i, (key, header, _f) in enumerate(COLUMNS):
            self.setColumnWidth(i, WIDTHS.get(key, max(60, 8 * len(header) + 16)))

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.results.rows

    def row_for(self, index: int) -> dict[str, Any] | None:
        """The result row of trial ``index``, if analysed."""
        return next((r for r in self.rows if r.get("index") == index), None)

    def trial_at(self, pos: QPoint) -> int | None:
        """The trial index of the row at ``pos`` (viewport coordinates), if any."""
        at = self.indexAt(pos)
        return self.rows[at.row()].get("index") if at.isValid() else None

    def add_result(self, row: Mapping[str, Any]) -> None:
        self.results.append(row)
        self.scrollToBottom()

    def set_results(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.results.reset_rows(rows)

    def clear(self) -> None:
        self.results.reset_rows([])

    def to_csv(self, path: str | Path) -> Path:
        """Write every key of every row (not only the shown columns), numbers rounded to
        what the measurement supports (:mod:`app.precision`, as ``analyze --csv``)."""
        from app.precision import round_row
        path = Path(path)
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            for r in self.rows:
                r = round_row(r)
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
        return path
