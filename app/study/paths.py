"""The names of a study folder's files and the session-file naming rule.

Kept apart from :mod:`app.study.folder` (which reads and validates the files with
pydantic) so that telling whether a file lies in a study costs no import: ``analyze``,
``compare`` and ``export`` ask it of every file they are given (issue 14: startup).
"""
from __future__ import annotations

import re
from pathlib import Path

STUDY_FILE = "study.toml"
ANIMALS_FILE = "animals.toml"
ALLOCATION_FILE = "allocation.toml"
KEY_FILE = "allocation-key.toml"
LOG_FILE = "log.jsonl"
SESSIONS_DIR = "sessions"
#: a session file name: <animal>.h5, or <animal>-2.h5 ... for repeats
SESSION_NAME = re.compile(r"^(?P<animal>.+?)(?:-(?P<repeat>\d+))?\.h5$")


def filed_session(path: Path) -> tuple[Path, str, str] | None:
    """``(study root, timepoint, animal)`` of a file lying at
    ``<study>/sessions/<timepoint>/<animal>[-N].h5`` beside a study file, else None.
    ``path`` should be resolved."""
    tp_dir = path.parent
    root = tp_dir.parent.parent
    if tp_dir.parent.name != SESSIONS_DIR or not (root / STUDY_FILE).is_file():
        return None
    m = SESSION_NAME.match(path.name)
    return (root, tp_dir.name, m["animal"]) if m else None
