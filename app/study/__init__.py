"""Study management: the study folder (design, animals, allocation, blinding, log,
sessions), dose arithmetic, the run hook and the report. Qt-free; the CLI
(``myoforce study``) and the GUI call these functions. Read a study folder with
:func:`load_study`. Documentation: docs/study.md."""
from __future__ import annotations

from typing import Any

__all__ = ["Study", "SessionRef", "load_study"]


def __getattr__(name: str) -> Any:
    """``Study``, ``SessionRef`` and ``load_study`` load :mod:`app.study.folder` (and
    pydantic) on first use: importing a light submodule (``app.study.paths``,
    ``app.study.membership``) costs nothing more."""
    if name in __all__:
        from app.study import folder
        return getattr(folder, name)
    raise AttributeError(f"module 'app.study' has no attribute {name!r}")
