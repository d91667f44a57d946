"""Where exported files go, and writing them so that a failure leaves nothing behind.

One session exports to the file named; several sessions, or a folder of sessions,
export into a directory, one ``<session name>.nwb`` each. Every output name is checked
before any export starts (:func:`app.paths.check_output_file`): an input is never
overwritten, an existing file only with ``overwrite``, and two inputs never share an
output name. Each file is written under a temporary name in the output's own folder
and renamed over the final name only once it is complete (:func:`write_atomically`),
so a failed or interrupted export leaves no half-written NWB file.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from app.errors import UserError
from app.paths import check_output_file

T = TypeVar("T")
SESSION_SUFFIXES = (".h5", ".hdf5")


def session_files(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The session files named, a folder standing for the ``.h5`` files in it (sorted,
    searched in subfolders too); UserError for a missing input or an empty folder."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in SESSION_SUFFIXES
                           and f.is_file() and not f.name.startswith("."))
            if not found:
                raise UserError(f"{p}: no session files (.h5) in this folder")
            out.extend(found)
        elif not p.exists():
            raise UserError(f"{p}: no such file")
        else:
            out.append(p)
    return out


def plan_outputs(inputs: list[Path], target: str | os.PathLike[str], *, into_dir: bool,
                 overwrite: bool) -> list[tuple[Path, Path]]:
    """``(input, output)`` pairs, every output checked; UserError naming the first problem.

    ``into_dir``: ``target`` is a directory (created if missing, its parent must exist)."""
    target = Path(target)
    if into_dir:
        if target.exists() and not target.is_dir():
            raise UserError(f"{target}: is not a directory (several sessions export into a "
                            f"directory, one .nwb file each)")
        if not target.exists():
            check_output_file(target, what="output directory")
            target.mkdir()
        pairs = [(src, target / (src.stem + ".nwb")) for src in inputs]
    else:
        pairs = [(inputs[0], target)]
    seen: dict[Path, Path] = {}
    for src, out in pairs:
        if out.suffix.lower() != ".nwb":
            raise UserError(f"{out}: an NWB file name must end in .nwb")
        check_output_file(out, what="NWB file", inputs=inputs)
        key = out.resolve()
        if key in seen:
            raise UserError(f"{seen[key]} and {src} would both export to {out}; export them "
                            f"into different directories")
        seen[key] = src
        if out.exists() and not overwrite:
            raise UserError(f"{out}: already exists; add --overwrite to replace it")
    return pairs


def temp_name(path: Path) -> Path:
    """A hidden name beside ``path`` (same folder, so the final rename is atomic)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.part.nwb")


def write_atomically(path: Path, write: Callable[[Path], T]) -> T:
    """``write(temp)``, then rename the temp file to ``path``; on any failure (including
    Ctrl-C) the temp file is removed and ``path`` is left as it was."""
    tmp = temp_name(path)
    try:
        result = write(tmp)
        os.replace(tmp, path)
        return result
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
