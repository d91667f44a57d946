"""A small form over :class:`app.analysis.AnalysisConfig` for re-analysis.

Built from the config's own field list (name, type, default, help, unit), so a new
setting appears here without touching the GUI. Invalid values are refused by the
config's own checks, with its message.
"""
from __future__ import annotations

import typing
from typing import Any

from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QWidget


def _choices(tp: Any) -> list[str] | None:
    if typing.get_origin(tp) is typing.Literal:
        return [str(a) for a in typing.get_args(tp)]
    if tp is bool:
        return ["True", "False"]
    return None


def _parse(text: str, tp: Any) -> Any:
    text = text.strip()
    args = typing.get_args(tp)
    optional = type(None) in args
    if text == "" or text.lower() == "none":
        if optional:
            return None
        raise ValueError("a value is required")
    base = next((a for a in args if a is not type(None)), tp) if args and typing.get_origin(tp) is not typing.Literal else tp
    if base is bool:
        return text.lower() in ("true", "1", "yes")
    if base is int:
        return int(text)
    if base is float:
        return float(text)
    return text


class AnalysisForm(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.analysis import AnalysisConfig
        self.config_type = AnalysisConfig
        self.defaults = AnalysisConfig()
        hints = typing.get_type_hints(AnalysisConfig)   # the annotations, resolved
        self.fields = {name: (hints.get(name, tp), default, help_, unit)
                       for name, tp, default, help_, unit in AnalysisConfig.option_fields()}
        self.editors: dict[str, QLineEdit | QComboBox] = {}
        form = QFormLayout(self)
        form.setContentsMargins(2, 2, 2, 2)
        form.setVerticalSpacing(2)
        for name, (tp, default, help_, unit) in self.fields.items():
            choices = _choices(tp)
            if choices:
                ed = QComboBox()
                ed.addItems(choices)
                ed.setCurrentText(str(default))
            else:
                ed = QLineEdit("" if default is None else f"{default:g}" if isinstance(default, float) else str(default))
            ed.setToolTip(help_)
            ed.setObjectName(f"cfg_{name}")
            self.editors[name] = ed
            form.addRow(name + (f" ({unit})" if unit else ""), ed)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        form.addRow(self.error)

    def set_value(self, name: str, value: Any) -> None:
        ed = self.editors[name]
        text = "" if value is None else str(value)
        if isinstance(ed, QComboBox):
            ed.setCurrentText(text)
        else:
            ed.setText(text)

    def config(self):
        """The AnalysisConfig of the form; raises ValueError naming the bad setting."""
        values: dict[str, Any] = {}
        for name, ed in self.editors.items():
            tp = self.fields[name][0]
            text = ed.currentText() if isinstance(ed, QComboBox) else ed.text()
            try:
                values[name] = _parse(text, tp)
            except ValueError as exc:
                self.error.setText(f"{name}: {exc}")
                raise ValueError(f"{name}: {exc}") from None
        try:
            cfg = self.config_type(**values)
        except (ValueError, TypeError) as exc:
            self.error.setText(str(exc))
            raise ValueError(str(exc)) from None
        self.error.setText("")
        return cfg

    def changed_settings(self) -> dict[str, Any]:
        cfg = self.config()
        return {k: v for k, v in cfg.to_dict().items() if v != getattr(self.defaults, k)}
