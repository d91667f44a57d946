"""The session metadata form, built from the fields of :class:`SessionMetadata`.

Every field of the model gets an editor (a drop-down for a fixed set of choices, a line
for text and numbers); validation is the model's own, and a field it rejects is shown
in red with the model's message. Nothing is accepted that the recorder would refuse.
"""
from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QWidget

from app.metadata import SessionMetadata

UNIT_SUFFIXES = [("_mg_per_kg", "mg/kg"), ("_weeks", "weeks"), ("_days", "days"), ("_mg", "mg"),
                 ("_mm", "mm"), ("_g", "g"), ("_C", "°C")]
ABBREV = {"id": "ID"}


def field_label(name: str) -> str:
    """``body_mass_g`` -> ``Body mass (g)``."""
    unit = ""
    for suffix, u in UNIT_SUFFIXES:
        if name.endswith(suffix):
            name, unit = name[: -len(suffix)], u
            break
    words = [ABBREV.get(w, w) for w in name.split("_")]
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


def subject_tab_name(name: str) -> str:
    """A metadata field as the operator finds it, for messages: ``muscle`` ->
    ``Subject tab's Muscle`` (the core names it ``metadata muscle``, the CLI ``--muscle``)."""
    return f"Subject tab's {field_label(name)}"


def _choices(annotation: Any) -> list[str] | None:
    """The allowed values of a ``Literal[...]`` (possibly inside ``| None``)."""
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is Literal:
            return [str(a) for a in typing.get_args(arg)]
    return None


def _is_number(annotation: Any) -> bool:
    args = typing.get_args(annotation) or (annotation,)
    return any(a in (int, float) for a in args)


class MetadataForm(QWidget):
    """Editors for every field of ``model`` (default :class:`SessionMetadata`)."""

    changed = Signal()

    def __init__(self, model: type[BaseModel] = SessionMetadata, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.editors: dict[str, QLineEdit | QComboBox] = {}
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        form = QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        form.setVerticalSpacing(3)
        defaults = model()
        for name, info in model.model_fields.items():
            choices = _choices(info.annotation)
            default = getattr(defaults, name)
            if choices is not None:
                ed = QComboBox()
                ed.addItem("")
                ed.addItems(choices)
                if default is not None:
                    ed.setCurrentText(str(default))
                ed.currentTextChanged.connect(lambda _t, n=name: self._edited(n))
            else:
                ed = QLineEdit("" if default is None else str(default))
                ed.setPlaceholderText("number" if _is_number(info.annotation) else "")
                ed.textChanged.connect(lambda _t, n=name: self._edited(n))
            ed.setObjectName(f"meta_{name}")
            ed.setAccessibleName(name)
            if info.description:
                ed.setToolTip(info.description)
            self.editors[name] = ed
            form.addRow(field_label(name), ed)
        form.addRow(self.error)

    # --- values ---
    def raw_values(self) -> dict[str, Any]:
        """The editors' contents, blanks as None, numbers as numbers where they parse."""
        out: dict[str, Any] = {}
        for name, ed in self.editors.items():
            text = ed.currentText() if isinstance(ed, QComboBox) else ed.text()
            text = text.strip()
            if not text:
                out[name] = None
                continue
            if _is_number(self.model.model_fields[name].annotation):
                try:
                    out[name] = float(text)
                    continue
                except ValueError:
                    pass
            out[name] = text
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            ed = self.editors.get(name)
            if ed is None:
                continue
            text = "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
            if isinstance(ed, QComboBox):
                ed.setCurrentText(text)
            else:
                ed.setText(text)

    def metadata(self) -> BaseModel:
        """The validated model; raises ``ValidationError`` (fields marked red) if invalid."""
        values = {k: v for k, v in self.raw_values().items() if v is not None}
        self._mark({})
        try:
            return self.model(**values)
        except ValidationError as exc:
            self._mark({str(e["loc"][0]): _sentence(e) for e in exc.errors() if e.get("loc")})
            raise

    def validate(self) -> list[str]:
        """Messages of the invalid fields (empty when the form is valid)."""
        try:
            self.metadata()
            return []
        except ValidationError as exc:
            return [f"{field_label(str(e['loc'][0]))}: {_sentence(e)}" for e in exc.errors() if e.get("loc")]

    def _edited(self, name: str) -> None:
        self.validate()
        self.changed.emit()

    def _mark(self, bad: dict[str, str]) -> None:
        for name, ed in self.editors.items():
            ed.setStyleSheet("background: #ffd6d6;" if name in bad else "")
            if name in bad:
                ed.setToolTip(bad[name])
        self.error.setText("; ".join(f"{field_label(k)}: {v}" for k, v in bad.items()))


def _sentence(err: dict) -> str:
    """What is wrong with one field, worded as everywhere else (app.validation_messages)."""
    from app.validation_messages import sentence
    return sentence(err, "").removeprefix(": ")
