"""Session recorder: crash-safe streaming HDF5 session files, and reading them back.

- :mod:`app.recorder.layout` – the file layout (names, dtypes, units, format version)
- :mod:`app.recorder.writer` – :class:`SessionRecorder`, the writer thread
- :mod:`app.recorder.reader` – :func:`open_session`, :func:`load_recording`, :func:`session_info`
- :mod:`app.recorder.verify` – structure and CRC-32 check of raw data
- :mod:`app.recorder.recover` – copy a crashed file into a clean one (never ``h5clear``)

The format is documented in ``docs/file-format.md``.
"""
from app.recorder.layout import FORMAT_NAME, FORMAT_VERSION
from app.recorder.reader import SessionFile, load_recording, open_session, session_info
from app.recorder.records import AuditEntry, Gap, RecorderNotice, TrialRecord
from app.recorder.recover import RecoveryReport, recover_session
from app.recorder.verify import VerifyReport, verify_session
from app.recorder.writer import RecordingExistsError, SessionRecorder

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "SessionRecorder", "RecordingExistsError", "TrialRecord",
    "RecorderNotice", "Gap", "AuditEntry", "SessionFile", "open_session", "load_recording",
    "session_info", "verify_session", "VerifyReport", "recover_session", "RecoveryReport",
]
