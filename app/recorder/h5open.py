"""Opening HDF5 session files as SWMR readers, and saying in one line why one cannot be opened.

Every recording is opened as a SWMR reader (see :mod:`app.recorder.reader`) through a
sec2 driver whose metadata read attempts are bounded, so that damaged metadata fails in
about half a second instead of hours. Split from the reader so that file access and the
session model each stay in a room of their own.
"""
from __future__ import annotations

import os
import struct
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import h5py

from app.errors import FileFormatError

T = TypeVar("T")

#: what h5py raises for damaged files (it uses RuntimeError for some HDF5 errors)
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


def _one_line(exc: BaseException) -> str:
    # a KeyError's str() is the repr of its argument: show h5py's message without quotes
    text = (str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _busy(exc: BaseException) -> bool:
    """HDF5's 'another process has it open' errors (as opposed to damage)."""
    msg = str(exc).lower()
    return "unable to lock file" in msg or "already open for" in msg


def _superblock_eof(path: Path) -> int | None:
    """End-of-file address recorded in a version 2/3 HDF5 superblock, or ``None``."""
    sig = b"\x89HDF\r\n\x1a\n"
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        base = 0
        while base + 48 <= size:
            fh.seek(base)
            head = fh.read(48)
            if head[:8] == sig:
                if head[8] in (2, 3) and head[9] == 8:   # 8-byte offsets
                    return base + struct.unpack_from("<Q", head, 28)[0]
                return None
            base = 512 if base == 0 else base * 2
    return None


#: metadata read attempts of a SWMR reader. HDF5's default (100) re-reads a block whose
#: checksum does not match with an exponential back-off from 1 ns; for damaged metadata (a
#: truncated copy, a flipped bit) that never matches, that is hours of sleeping. 29 attempts
#: wait about 0.5 s in all: ample for a block the writer is flushing right now.
SWMR_READ_ATTEMPTS = 29
_SWMR_DRIVER = "myoforce-swmr-reader"


def _register_swmr_driver() -> str | None:
    """Register an h5py driver (sec2, with :data:`SWMR_READ_ATTEMPTS`); its name, or
    ``None`` where HDF5's ``H5Pset_metadata_read_attempts`` cannot be reached."""
    import ctypes
    try:
        # h5py's own libhdf5 (a wheel bundles a private copy): dlsym on an extension
        # module's handle also searches the libraries it was linked against
        fn = ctypes.CDLL(h5py.defs.__file__).H5Pset_metadata_read_attempts
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int

    def set_fapl(plist: h5py.h5p.PropFAID, **_kwargs: Any) -> None:
        plist.set_fapl_sec2()
        fn(plist.id, SWMR_READ_ATTEMPTS)

    h5py.register_driver(_SWMR_DRIVER, set_fapl)
    return _SWMR_DRIVER


_swmr_lock = threading.Lock()
_swmr_registered = False
_swmr_driver: str | None = None


def swmr_driver() -> str | None:
    """The bounded-attempts driver's name (``None``: h5py's default), registered on first
    use, once, under a lock: importing the reader loads no library and touches no h5py
    state, and readers opened concurrently from several threads register it once."""
    global _swmr_registered, _swmr_driver
    if _swmr_registered:
        return _swmr_driver
    with _swmr_lock:
        if not _swmr_registered:
            _swmr_driver = _register_swmr_driver()
            _swmr_registered = True
    return _swmr_driver


#: a file being written changes under its readers (the writer flushing, or closing it at
#: the end of a run): a read that fails while the file changed is tried again from a fresh
#: open, up to this many times, this long apart (about half a second in all)
CHANGED_FILE_RETRIES = 5
CHANGED_FILE_WAIT_S = 0.1


def _stamp(path: Path) -> tuple[int, int] | None:
    """(size, modification time in ns) of ``path``, or None when it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def read_settled(path: str | os.PathLike[str], read: Callable[[Path], T]) -> T:
    """``read(path)``; when it fails (FileFormatError) and the file changed on disk
    while it read, read it again from a fresh open.

    A SWMR reader of a file being written can meet a state the writer is halfway through
    (HDF5: "len not positive after adjustment for EOA" while the writer closes the file
    at the end of a run), which is not damage. A file that does not change while it is
    read and still fails is damaged, and says so at once."""
    p = Path(path)
    for attempt in range(CHANGED_FILE_RETRIES + 1):
        before = _stamp(p)
        try:
            return read(p)
        except FileFormatError:
            after = _stamp(p)
            if attempt == CHANGED_FILE_RETRIES or before is None or after == before:
                raise
        time.sleep(CHANGED_FILE_WAIT_S)
    raise AssertionError("unreachable")  # pragma: no cover


def _open_h5(path: Path) -> h5py.File:
    """Open ``path`` as a SWMR reader, or raise FileFormatError saying why not."""
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a directory, not a session file")
    if not path.is_file():
        raise FileFormatError(f"{path}: not a regular file (a device or a pipe?), "
                              f"not a session file")
    size = path.stat().st_size
    if size == 0:
        raise FileFormatError(f"{path}: empty file (0 bytes), not a myoforce session file")
    try:
        is_h5 = h5py.is_hdf5(str(path))
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be read: {exc}") from None
    if not is_h5:
        raise FileFormatError(f"{path}: not an HDF5 file (no HDF5 signature), "
                              "so not a myoforce session file")
    last: Exception | None = None
    for _ in range(20):        # the writer briefly holds an exclusive lock while creating
        try:
            return h5py.File(str(path), "r", swmr=True, driver=swmr_driver())
        except Exception as exc:
            last = exc
            if _busy(exc):
                time.sleep(0.05)
                continue
            break
    first = _one_line(last) if last is not None else "unknown error"
    if last is not None and _busy(last):
        raise FileFormatError(f"{path}: is open for writing by another program (not as a "
                              f"SWMR writer), cannot read it now ({first})") from None
    raise FileFormatError(f"{path}: damaged or truncated HDF5 file, cannot be opened "
                          f"({first})") from None
