"""The file a replay tab shows, and how the tab writes into it.

A replay tab reads its session lazily, through one h5py handle (the force and aux
datasets of its :class:`~app.recording.Recording`), and HDF5 opens a file for writing
only when no handle of the same process still reads it. Every write the tab offers (a
comment added afterwards, :mod:`app.gui.replay_comment`; a trial excluded or included
again, :mod:`app.gui.replay_exclusion`) is one core function appending an audit row, run
by :meth:`TabFile.write`: refused with "wait: …" while a worker thread reads the file
(opening, analysis, building the overview: pulling the handle from under it would break
them), the caller's checks first (a refusal touches nothing), then the read handle
closed, the write, and the file opened again whatever happened. The new handle's force
and aux replace the old ones in the same Recording, so its trials, metadata and
everything drawn from them are kept and nothing is rebuilt.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

from app.errors import UserError

T = TypeVar("T")


class TabFile:
    """The session file of one replay tab (None: a recording without a file)."""

    def __init__(self, busy: Callable[[], str | None], reopened: Callable[[bool], None]) -> None:
        """``busy()`` names what reads the file on a worker thread now, if anything;
        ``reopened(ok)`` is called after every write (False: the file could not be read
        again, the tab should open it anew to say why)."""
        self.path: Path | None = None
        self.recording: Any = None
        self._busy, self._reopened = busy, reopened

    def show(self, recording: Any, path: Path | None) -> None:
        """The tab now shows ``recording``, read from ``path``."""
        self.recording, self.path = recording, path

    def write(self, write: Callable[[Path], T], check: Callable[[Path], Any] | None = None) -> T:
        """``write(path)`` (a core function appending to the file) with the tab's read
        handle released for it and the file read again after; returns what it returns.
        UserError, nothing written and the handle untouched: the file is busy, there is
        no file, or ``check(path)`` (the core's checks, run first) refuses."""
        busy = self._busy()
        if busy:
            raise UserError(f"wait: {busy}, then try again")
        path = self.path
        if path is None or self.recording is None:
            raise UserError("no file to write to")
        if check is not None:
            check(path)
        release_file(self.recording)
        try:
            return write(path)
        finally:
            self._reopened(reopen_file(self.recording, path))

    def close(self) -> None:
        """Close the read handle (the tab is closed: the file is free at once)."""
        release_file(self.recording)


def release_file(recording: Any) -> None:
    """Close the read handle a lazily read session holds (its force and aux read through
    it); a recording in memory holds none, one released already is left as it is."""
    try:
        f = getattr(getattr(recording, "force_mN", None), "file", None)
    except ValueError:          # h5py: the dataset's file is closed already
        return
    if f is not None:
        f.close()


def reopen_file(recording: Any, path: Path) -> bool:
    """Give ``recording`` (its trials, metadata and everything drawn from them kept) the
    force and aux of ``path`` read through a new handle; False if it cannot be read."""
    from app.recorder.reader import load_recording
    try:
        fresh = load_recording(path)
    except Exception:  # noqa: BLE001 - the caller opens it again to say what is wrong
        return False
    recording.force_mN, recording.aux = fresh.force_mN, fresh.aux
    return True
