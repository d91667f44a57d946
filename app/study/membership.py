"""Which study a session file belongs to, and whether its animal is excluded: the one
place the rule "an excluded animal never enters group statistics or analysed-data
exports" is decided for files handed to a command one by one (``myoforce compare``,
``myoforce export`` of a file or a plain folder), not through the study's own loader.

A session belongs to a study when it lies at ``<study>/sessions/<timepoint>/<animal>.h5``
(``-2``, ``-3`` ... for repeats) with ``<study>/study.toml`` beside ``sessions/``. An NWB
file myoforce exported from an excluded animal (``myoforce export --include-excluded``)
carries the exclusion in its own record (metadata ``excluded``; docs/nwb.md).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from app.study.paths import filed_session

if TYPE_CHECKING:
    from app.study.folder import SessionRef, Study


class StudyLookup:
    """Finds the study of session files, loading each study folder once."""

    def __init__(self) -> None:
        self._studies: dict[Path, Study] = {}

    def study(self, root: Path) -> Study:
        from app.study.folder import load_study    # pydantic: only for files in a study
        root = root.resolve()
        if root not in self._studies:
            self._studies[root] = load_study(root)
        return self._studies[root]

    def filed_in(self, path: str | os.PathLike[str]) -> tuple[Study, SessionRef] | None:
        """The study and the session's place in it, or None for a file outside a study
        (or not named for one of its animals). UserError for an unreadable study file:
        an exclusion is never missed because the study could not be read."""
        p = Path(path).resolve()
        found = filed_session(p)
        if found is None:
            return None
        from app.study.folder import SessionRef    # pydantic: only for files in a study
        root, timepoint, animal = found
        study = self.study(root)
        if animal not in study.animals:
            return None
        return study, SessionRef(animal, timepoint, p)

    def exclusion(self, path: str | os.PathLike[str],
                  metadata: Mapping[str, Any] | None = None) -> str | None:
        """Why the session's animal is excluded ('animal R05 is excluded from the study
        <study folder name> (2026-10-05 12:00 UTC: reason)'), or None if it is not."""
        if metadata and metadata.get("excluded"):
            who = metadata.get("subject_id") or "the animal"
            return f"animal {who} is excluded from its study ({metadata['excluded']})"
        found = self.filed_in(path)
        if found is None:
            return None
        study, ref = found
        animal = study.animals[ref.animal]
        if animal.excluded is None:
            return None
        return (f"animal {ref.animal} is excluded from the study {study.root.name} "
                f"({exclusion_text(animal.excluded)})")


def exclusion_text(ex: Any) -> str:
    """'2026-10-05 12:00 UTC: the tendon tie slipped': when and why, one line."""
    return f"{ex.time:%Y-%m-%d %H:%M} UTC: {ex.reason}"
