"""Metadata as read from a file, before anything is computed from it.

Kept apart from :mod:`app.metadata` (the pydantic model used when metadata is
entered) so that analysing a file does not import pydantic: a slow import on the
path of ``myoforce analyze``.
"""
from __future__ import annotations

import math
from typing import Any


def readable_metadata(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Metadata read from a file, with every non-finite number (``inf``, ``nan``) left
    out and noted: entering one is refused (:class:`app.metadata.SessionMetadata`
    forbids it), but a file may hold one (written by another program, edited by hand),
    and reading it must not fail a whole analysis. Returns (usable values, notes)."""
    clean: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and not math.isfinite(float(value)):
            notes.append(f"metadata {key} = {value} in the file is not a finite number: ignored")
            continue
        clean[key] = value
    return clean, notes
