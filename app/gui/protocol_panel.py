"""Protocol panel: pick a protocol file, see its steps and parameters, edit them.

The steps and their parameters are shown in a tree; a value edited there is checked by
the protocol's own validation (the pydantic model and the structure checks of
``protocols.loader``) before it is accepted; rejected edits are reverted and the reason
is shown. A protocol that is valid as a file is then checked against the connected
rig with the run plan's own rules (:func:`app.run_plan.protocol_problems`, the same
rules and messages as ``myoforce run``): every problem is listed under the tree and
:attr:`runnable` is False until they are fixed, so Run stays disabled.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

PATH_ROLE = Qt.UserRole + 1


def default_protocol_path() -> Path:
    import protocols
    base = Path(protocols.__file__).parent if getattr(protocols, "__file__", None) else Path(list(protocols.__path__)[0])
    return base.resolve() / "library" / "protocol1-demo.yaml"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return str(value)


def step_summary(step: dict[str, Any]) -> str:
    kind = step.get("kind", "?")
    bits = []
    for key in ("count", "frequency_hz", "frequencies_hz", "duration_ms", "trains", "total_s",
                "lengths_mm", "start_mA", "max_mA", "duration_s", "text"):
        if key in step:
            v = _fmt(step[key])
            bits.append(f"{key}={v[:40]}")
    return f"{kind}  " + ", ".join(bits[:3])


class ProtocolPanel(QWidget):
    protocol_changed = Signal(object)
    runnable_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.protocol: Any = None          # protocols.schema.ProtocolSpec
        self.data: dict[str, Any] = {}     # its plain-data form, what the tree shows
        self.edited = False
        self._filling = False
        self.rig_settings: Any = None        # app.run_plan.RigSettings of the connected rig
        self.problems: list[str] = []         # why the protocol may not run on that rig

        self.path_edit = QLineEdit()
        self.path_edit.setReadOnly(True)
        browse = QPushButton("Open…")
        browse.clicked.connect(self.browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["step / parameter", "value"])
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.itemChanged.connect(self._item_changed)
        self._edit_triggers = (QTreeWidget.DoubleClicked | QTreeWidget.EditKeyPressed
                               | QTreeWidget.SelectedClicked)
        self.tree.setEditTriggers(self._edit_triggers)
        self.running = False
        self.message = QLabel()
        self.message.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.message)

    # --- loading ---
    def browse(self) -> None:
        start = str(self.path.parent if self.path else default_protocol_path().parent)
        path, _ = QFileDialog.getOpenFileName(self, "Open protocol", start, "Protocols (*.yaml *.yml)")
        if path:
            self.load(path)

    def load(self, path: str | Path) -> bool:
        from protocols.loader import load_protocol
        path = Path(path)
        try:
            protocol = load_protocol(path)
        except Exception as exc:  # ProtocolFileError and friends: one clear line
            self._say(str(exc), error=True)
            return False
        self.path = path
        self.path_edit.setText(str(path))
        self.edited = False
        self._set_protocol(protocol)
        if not self.problems:
            self._say(f"{len(protocol.steps)} steps. Double-click a value to edit it.")
        return True

    def _set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol
        self.data = protocol.model_dump(mode="json", exclude_none=True)
        self._fill()
        self._check_rig()
        self.protocol_changed.emit(protocol)

    # --- the rig's rules ---
    @property
    def source(self) -> str:
        """The protocol's name in messages: its file name, as ``myoforce run`` says it."""
        return self.path.name if self.path is not None else "protocol"

    @property
    def runnable(self) -> bool:
        """A protocol is loaded and the connected rig's rules accept it."""
        return self.protocol is not None and not self.problems

    def set_rig(self, settings: Any) -> None:
        """Check the protocol (now and after every edit) against this rig's settings
        (:class:`app.run_plan.RigSettings`; None when no rig is connected)."""
        self.rig_settings = settings
        self._check_rig()

    def set_limits(self, limits: Any) -> None:
        """Check against these stimulation limits (a rig not connected yet)."""
        from app.run_plan import RigSettings
        self.set_rig(RigSettings(limits=limits))

    def _check_rig(self) -> None:
        from app.run_plan import RigSettings, protocol_problems
        before = self.runnable
        self.problems = []
        if self.protocol is not None:
            settings = self.rig_settings or RigSettings()
            self.problems = protocol_problems(self.protocol, settings, source=self.source)
        if self.problems:
            rig = "this rig" if self.rig_settings is not None else "the default rig limits"
            self._say(f"Cannot run on {rig}:\n" + "\n".join(self.problems), error=True)
        if before != self.runnable or self.problems:
            self.runnable_changed.emit(self.runnable)

    @property
    def protocol_text(self) -> str:
        """YAML of the protocol as it will run (the file's text when not edited)."""
        if self.path is not None and not self.edited:
            return self.path.read_text(encoding="utf-8")
        return yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True)

    # --- tree ---
    def _fill(self) -> None:
        self._filling = True
        try:
            self.tree.clear()
            head = QTreeWidgetItem([f"Protocol: {self.data.get('name', '')}", ""])
            self.tree.addTopLevelItem(head)
            for key, value in self.data.items():
                if key == "steps":
                    continue
                self._add(head, key, value, (key,))
            for i, step in enumerate(self.data.get("steps", [])):
                name = step.get("name") or f"{step.get('kind')}-{i + 1}"
                item = QTreeWidgetItem([f"{i + 1}. {name}", step_summary(step)])
                item.setData(0, PATH_ROLE, ("steps", i))
                self.tree.addTopLevelItem(item)
                for key, value in step.items():
                    self._add(item, key, value, ("steps", i, key), editable=key != "kind")
            head.setExpanded(False)
            self.tree.resizeColumnToContents(0)
        finally:
            self._filling = False

    def _add(self, parent: QTreeWidgetItem, key: str, value: Any, path: tuple,
             editable: bool = True) -> None:
        if isinstance(value, dict):
            node = QTreeWidgetItem(parent, [key, ""])
            for k, v in value.items():
                self._add(node, k, v, path + (k,), editable)
            return
        item = QTreeWidgetItem(parent, [key, _fmt(value)])
        item.setData(0, PATH_ROLE, path)
        if editable:
            item.setFlags(item.flags() | Qt.ItemIsEditable)

    def step_item(self, index: int) -> QTreeWidgetItem | None:
        item = self.tree.topLevelItem(index + 1)
        return item

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != 1 or self.running:
            return
        path = item.data(0, PATH_ROLE)
        if not path:
            return
        self.set_value(tuple(path), item.text(1))

    def set_value(self, path: tuple, text: str) -> bool:
        """Set the parameter at ``path`` (e.g. ``("steps", 3, "frequency_hz")``) from text;
        accepted only if the whole protocol still validates."""
        from protocols.loader import parse_protocol
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        data = copy.deepcopy(self.data)
        node = data
        for p in path[:-1]:
            node = node[p]
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
        source = self.path.name if self.path else "protocol"
        try:
            protocol = parse_protocol(yaml.safe_dump(data, sort_keys=False), source=source)
        except Exception as exc:
            self._say(f"Not accepted: {exc}", error=True)
            self._fill()      # revert the edit
            return False
        self.edited = True
        self._set_protocol(protocol)
        if not self.problems:
            self._say(f"{'.'.join(str(p) for p in path)} = {text}  (edited; the file is unchanged)")
        return True

    def set_running(self, running: bool) -> None:
        """No edits while the protocol runs (the steps stay readable)."""
        self.running = running
        self.tree.setEditTriggers(QTreeWidget.NoEditTriggers if running else self._edit_triggers)
        if not running:
            self.highlight_step(None)

    def highlight_step(self, index: int | None) -> None:
        # font and background changes emit itemChanged: not edits, so guard like _fill
        self._filling = True
        try:
            for i in range(1, self.tree.topLevelItemCount()):
                item = self.tree.topLevelItem(i)
                current = index is not None and i == index + 1
                font = item.font(0)
                font.setBold(current)
                for col in (0, 1):
                    item.setFont(col, font)
                    item.setBackground(col, QBrush(QColor("#c8e6c9")) if current else QBrush())
                if index is not None:
                    item.setExpanded(current)      # the running step's parameters in view
        finally:
            self._filling = False
        if index is not None and (item := self.step_item(index)) is not None:
            self.tree.scrollToItem(item)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "color: #333;")
        self.message.setText(text)
