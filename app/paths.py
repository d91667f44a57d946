"""Checking an output file name before anything is written to it.

Every command that writes a file (a recording, a recovered copy, a CSV, a figure) checks
its name first with :func:`check_output_file`, so a mistake in it is one line naming
the path, before any work is done and before any half-made file can appear; and an
output that names one of the command's own input files (``--csv rat07.h5``,
``--out protocol.yaml``) is refused rather than overwriting the input.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from app.errors import UserError


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when both names exist and are the same file."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def check_output_file(path: str | os.PathLike[str], *, what: str = "output file",
                      inputs: Iterable[str | os.PathLike[str]] = (),
                      devices: bool = False) -> Path:
    """``path`` as a Path, or UserError if a file cannot be written there: the name is
    empty or a directory, its directory is missing or not writable, the file exists and
    is not writable, or it is one of ``inputs``. An existing device or pipe
    (``/dev/null``, ``/dev/stdout``) is refused unless ``devices``: a recording written
    there would be lost, and replacing it would replace the device. Whether an existing
    file may be replaced is the caller's decision."""
    if str(path).strip() == "":
        raise UserError(f"the {what} name is empty")
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{p}: is a directory; give a file name for the {what}")
    if p.exists() and not p.is_file():
        if not devices:
            raise UserError(f"{p}: not a regular file (a device or a pipe?); give a file "
                            f"name for the {what}")
        return p
    parent = p.parent
    if not parent.exists():
        raise UserError(f"{parent}: no such directory for the {what}")
    if not parent.is_dir():
        raise UserError(f"{parent}: is not a directory (in the {what} name {p})")
    for source in inputs:
        if same_file(p, source):
            raise UserError(f"{p}: is one of the input files; refusing to overwrite it with "
                            f"the {what}")
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"{p}: permission denied (cannot write the {what})")
    if not p.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{parent}: permission denied (cannot create the {what} there)")
    return p
