"""Session recorder: crash-safe streaming HDF5 session files, and reading them back.

- :mod:`app.recorder.layout` – the file layout (names, dtypes, units, format version)
- :mod:`app.recorder.writer` – :class:`SessionRecorder`, the producer side (queues, lifecycle)
- :mod:`app.recorder.writer_thread` – the writer thread, the one owner of the file
  (:mod:`app.recorder.disk_space`: the disk-space and file-size guard)
- :mod:`app.recorder.reader` – :func:`open_session`, :func:`load_recording`, :func:`session_info`
- :mod:`app.recorder.session_file` – :class:`SessionFile`, an open file's data and tables
- :mod:`app.recorder.h5open` – opening a file as a SWMR reader, and why one cannot be
- :mod:`app.recorder.verify` – structure and CRC-32 check of raw data
- :mod:`app.recorder.recover` – copy a crashed file into a clean one (never ``h5clear``)
- :mod:`app.recorder.revisions` – metadata known after the run, appended as audit rows
- :mod:`app.recorder.comments` – operator comments (audit rows of kind ``comment``)

The format is documented in ``docs/file-format.md``.

Importing this package is cheap: each name below is imported from its module on first
use (PEP 562), so ``myoforce info`` (the reader) never loads the writer or pydantic.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.recorder.layout import FORMAT_NAME, FORMAT_VERSION
    from app.recorder.reader import SessionFile, load_recording, open_session, session_info
    from app.recorder.records import AuditEntry, Gap, RecorderNotice, TrialRecord
    from app.recorder.recover import RecoveryReport, recover_session
    from app.recorder.verify import VerifyReport, verify_session
    from app.recorder.writer import RecordingExistsError, SessionRecorder

_WHERE = {
    "layout": ("FORMAT_NAME", "FORMAT_VERSION"),
    "reader": ("SessionFile", "load_recording", "open_session", "session_info"),
    "records": ("AuditEntry", "Gap", "RecorderNotice", "TrialRecord"),
    "recover": ("RecoveryReport", "recover_session"),
    "verify": ("VerifyReport", "verify_session"),
    "writer": ("RecordingExistsError", "SessionRecorder"),
}
_MODULE = {name: module for module, names in _WHERE.items() for name in names}
__all__ = sorted(_MODULE)


def __getattr__(name: str) -> Any:
    if name not in _MODULE:
        raise AttributeError(f"module 'app.recorder' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"app.recorder.{_MODULE[name]}"), name)
    globals()[name] = value
    return value
