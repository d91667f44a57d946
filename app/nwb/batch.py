"""Where exported files go, and writing them so that a failure leaves nothing behind.

One session exports to the file named; several sessions, a folder of sessions or a
study folder export into a directory, one ``<session name>.nwb`` each (a folder's
subfolders mirrored: a study gives ``sessions/<timepoint>/<animal>.nwb``). Every output name is checked
before any export starts (:func:`app.paths.check_output_file`): an input is never
overwritten, an existing file only with ``overwrite``, and two inputs never share an
output name. Each file is written under a temporary name in the output's own folder
and renamed over the final name only once it is complete (:func:`write_atomically`),
so a failed or interrupted export leaves no half-written NWB file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from app.errors import UserError
from app.paths import check_output_file

T = TypeVar("T")
SESSION_SUFFIXES = (".h5", ".hdf5")


@dataclass
class Job:
    """One session to export: its file, its output name relative to the output directory,
    and what its study folder says about the animal (``None`` outside a study;
    :func:`app.nwb.study_facts.session_facts`)."""

    source: Path
    name: Path
    study: dict[str, Any] | None = None
    output: Path | None = None

    @property
    def excluded(self) -> str | None:
        """When and why the study excluded the animal, or None."""
        return (self.study or {}).get("excluded")


def _study_jobs(root: Path) -> list[Job]:
    """The sessions of a study folder, through the study's own loader (app.study), each
    with the study's facts about it (the group only as the study's blinding allows)."""
    from app.nwb.study_facts import session_facts
    from app.study.folder import load_study
    study = load_study(root)
    jobs = [Job(ref.path, ref.path.relative_to(root).with_suffix(".nwb"),
                session_facts(study, ref)) for ref in study.sessions()]
    if not jobs:
        raise UserError(f"{root}: the study has no sessions yet (sessions/<timepoint>/*.h5)")
    return jobs


def _job(path: Path, name: Path, lookup: Any) -> Job:
    """A session named by its file (alone or in a folder): if it is filed in a study
    folder, the study's facts travel with it as they do for the study folder itself."""
    from app.nwb.study_facts import session_facts
    found = lookup.filed_in(path)
    return Job(path, name, session_facts(*found) if found else None)


def session_files(inputs: Iterable[str | os.PathLike[str]]) -> list[Job]:
    """The sessions named. A study folder (with study.toml) stands for its sessions, read
    through the study's loader; another folder for the ``.h5`` files in it and its
    subfolders (sorted; outputs mirror the subfolders). A file filed in a study folder
    (``<study>/sessions/<timepoint>/``) carries the study's facts either way. UserError
    for a missing input or a folder without sessions."""
    from app.study.folder import STUDY_FILE
    from app.study.membership import StudyLookup
    lookup = StudyLookup()
    out: list[Job] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir() and (p / STUDY_FILE).is_file():
            out.extend(_study_jobs(p))
        elif p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in SESSION_SUFFIXES
                           and f.is_file() and not f.name.startswith("."))
            if not found:
                raise UserError(f"{p}: no session files (.h5) in this folder")
            out.extend(_job(f, f.relative_to(p).with_suffix(".nwb"), lookup) for f in found)
        elif not p.exists():
            raise UserError(f"{p}: no such file")
        else:
            out.append(_job(p, Path(p.stem + ".nwb"), lookup))
    return out


def leave_out_excluded(jobs: list[Job], include_excluded: bool = False
                       ) -> tuple[list[Job], list[tuple[Path, str]]]:
    """The jobs to export, and ``(source, why)`` for each session left out because its
    animal is excluded from its study (an excluded animal's analysed data is exported
    only on request, ``include_excluded``, and then marked as excluded in the file)."""
    if include_excluded:
        return jobs, []
    keep = [j for j in jobs if not j.excluded]
    left = [(j.source, f"not exported: the animal is excluded from the study "
                       f"({j.excluded}); --include-excluded exports it marked as excluded")
            for j in jobs if j.excluded]
    return keep, left


def plan_outputs(jobs: list[Job], target: str | os.PathLike[str], *, into_dir: bool,
                 overwrite: bool) -> list[Job]:
    """The jobs with their output paths, every output checked; UserError naming the first
    problem. ``into_dir``: ``target`` is a directory (created if missing, its parent
    must exist; subfolders of it are created as the outputs need them)."""
    target = Path(target)
    if into_dir:
        if target.exists() and not target.is_dir():
            raise UserError(f"{target}: is not a directory (several sessions export into a "
                            f"directory, one .nwb file each)")
        if not target.exists():
            if target.suffix.lower() == ".nwb":    # surely meant as one file: say so
                raise UserError(f"{target}: several sessions export into a directory, one "
                                f".nwb file each; give a directory name (e.g. nwb/)")
            check_output_file(target, what="output directory")
    inputs = [j.source for j in jobs]
    seen: dict[Path, Path] = {}
    for job in jobs:
        job.output = target / job.name if into_dir else target
        out = job.output
        if out.suffix.lower() != ".nwb":
            raise UserError(f"{out}: an NWB file name must end in .nwb")
        key = out.resolve()
        if key in seen:
            raise UserError(f"{seen[key]} and {job.source} would both export to {out}; "
                            f"export them into different directories")
        seen[key] = job.source
        if out.exists() and not overwrite:
            raise UserError(f"{out}: already exists; add --overwrite to replace it")
    for job in jobs:
        if into_dir:
            job.output.parent.mkdir(parents=True, exist_ok=True)
        check_output_file(job.output, what="NWB file", inputs=inputs)
    return jobs


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
