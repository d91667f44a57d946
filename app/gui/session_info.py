"""A recording's session information as a tree: labelled values with units.

What the replay's left pane shows of a file: the file's own fields, each group of
fields (rig, subject, …) under its name, the operator's comments with their times, the
trials excluded from the session's numbers with their reasons, and the recording's
metadata when the file info does not already carry it.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem

from app.recording import Recording


def fill_session_info(tree: QTreeWidget, info: dict[str, Any], rec: Recording | None) -> None:
    """Session information as labelled values with units (``app.labels``); empty
    values (nothing recovered, no gaps to name) are left out."""
    from app.labels import describe
    tree.clear()
    root = QTreeWidgetItem(tree, ["file", ""])

    def add(parent: QTreeWidgetItem, key: str, value: Any) -> None:
        name, text = describe(str(key), value)
        if text:
            QTreeWidgetItem(parent, [name, text]).setToolTip(0, str(key))
    for k, v in info.items():
        if isinstance(v, dict):
            node = QTreeWidgetItem(tree, [k.replace("_", " "), ""])
            for k2, v2 in v.items():
                if not isinstance(v2, (dict, list, tuple)):
                    add(node, k2, v2)
        elif not isinstance(v, (list, tuple)):
            add(root, k, v)
    notes = QTreeWidgetItem(tree, ["comments", ""]) if info.get("comments") else None
    for c in info.get("comments") or []:
        after = " (added afterwards)" if c.get("added_afterwards") else ""
        QTreeWidgetItem(notes, [f"{c['time_s']:.2f} s", c["text"] + after])
    excluded = rec.exclusions if rec is not None else {}
    node = QTreeWidgetItem(tree, ["excluded trials", ""]) if excluded else None
    for index, ex in excluded.items():
        QTreeWidgetItem(node, [f"trial {index}", ex.reason])
    if rec is not None and rec.metadata and "metadata" not in info:
        meta = QTreeWidgetItem(tree, ["metadata", ""])
        for k, v in rec.metadata.items():
            add(meta, k, v)
    tree.expandAll()
    tree.resizeColumnToContents(0)
