"""Cache of analysis results, so re-analysing an unchanged file costs a file hash.

Where: ``$MYOFORCE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/myoforce``, else
``~/.cache/myoforce`` — always the user's cache folder, never beside or inside raw data
(the data folder may be read-only, shared, or archived; a cache there would be copied
with it). Entries live in ``analysis/`` below it, one small file each; deleting the
folder is always safe. ``MYOFORCE_CACHE=off`` turns the cache off. After a batch that
stored results, the least recently used entries beyond ``$MYOFORCE_CACHE_MAX_MB``
(500 MB by default: tens of thousands of sessions) are deleted.

Key: SHA-256 of (the file's content, the analysis settings, the code version). Why
the content and not size + mtime + inode: a content key is never stale (an edit that
keeps size and mtime, a file restored from backup, a copy on another disk all hash
right) and survives renames and copies; what is appended to a session afterwards (a
metadata revision, a trial exclusion: audit rows) changes its content, so results from
before it are never served. It costs reading the file once (about 1 GB/s,
~40 ms for a 15-minute session at 10 kHz); the digest is then remembered for the
file's (device, inode, size, mtime, ctime) — a write changes the ctime even when it
keeps size and mtime — so an unchanged file is not read again. A file modified in the
last 2 s is hashed every time (a write in the same clock tick could keep its state). The code version is :data:`ANALYSIS_SCHEMA`, the package version,
numpy's and scipy's versions, and a fingerprint of the source of every module that
turns a file into numbers (``app/analysis``, the importers, ``app/recorder``...), so a
code change invalidates old entries without anyone remembering to bump a number.

What is stored: a result whose file was read completely and did not change while
it was analysed. A session still being recorded (or whose writer died: the file says
``complete: false``) and a file whose size or mtime changed during the analysis are
never stored; nor are read errors (they may be transient). Entries are pickles of
:class:`app.analysis.results.SessionResult` written atomically; an entry that
cannot be read is a miss. The folder is the user's own, like any cache of theirs.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from app import __version__

#: bump when the meaning of a stored result changes in a way the fingerprint cannot see
ANALYSIS_SCHEMA = 1

#: source (relative to the project root) whose change invalidates cached results
#: (whole packages: a module they start to use is covered; over-invalidating is harmless)
_FINGERPRINTED = ("app/analysis", "app/importers", "app/recorder", "app/recording.py",
                  "app/metadata.py", "app/batch.py", "app/result_cache.py",
                  "drivers/capabilities.py")
_CHUNK = 1 << 20
#: a file's digest is remembered only once it has not been modified for this long
SETTLE_S = 2.0


def cache_dir() -> Path:
    """The folder holding the analysis cache (see the module docstring)."""
    if os.environ.get("MYOFORCE_CACHE_DIR"):
        return Path(os.environ["MYOFORCE_CACHE_DIR"]) / "analysis"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "myoforce" / "analysis"


def cache_enabled() -> bool:
    return os.environ.get("MYOFORCE_CACHE", "").strip().lower() not in ("off", "0", "no")


@lru_cache(maxsize=1)
def code_version() -> str:
    """Everything about the code that a cached result depends on, as one string."""
    import numpy
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in _FINGERPRINTED:
        p = root / rel
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            h.update(str(f.relative_to(root)).encode() + b"\0")
            h.update(f.read_bytes() if f.is_file() else b"")
    parts = {"schema": ANALYSIS_SCHEMA, "myoforce": __version__, "numpy": numpy.__version__,
             "scipy": _scipy_version(), "python": sys.version_info[:2],
             "source": h.hexdigest()}
    return json.dumps(parts, sort_keys=True)


def _scipy_version() -> str:
    """scipy's version file, read without importing scipy (or importlib.metadata: both
    slow imports on a path that may not need them)."""
    import importlib.util
    try:
        spec = importlib.util.find_spec("scipy")
        origin = Path(spec.origin) if spec and spec.origin else None
        return hashlib.sha256((origin.parent / "version.py").read_bytes()).hexdigest()
    except (OSError, ValueError, ImportError):
        return "none"


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def file_state(path: str | os.PathLike[str]) -> tuple[int, int, int, int, int]:
    """(device, inode, size, mtime, ctime in ns): what changes when a file is written.

    The ctime cannot be set back by tools (``touch -d`` sets the mtime only), so a write
    that keeps size and mtime still changes it."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def settings_key(settings: Any) -> str:
    """Canonical text of the analysis settings (an object with ``to_dict()``)."""
    return json.dumps(settings.to_dict(), sort_keys=True, default=repr)


class ResultCache:
    """Analysis results on disk, keyed by file content + settings + code version."""

    def __init__(self, folder: str | os.PathLike[str] | None = None,
                 version: str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else cache_dir()
        self.version = version if version is not None else code_version()

    def digest(self, path: str | os.PathLike[str], state: tuple) -> str:
        """SHA-256 of the file's content, remembered for its ``file_state``: an unchanged
        file (same inode, size, mtime and ctime) is not read again. A file modified less
        than :data:`SETTLE_S` ago is hashed but not remembered (a write within the same
        clock tick could keep its state: git's "racily clean" rule)."""
        memo = self.folder / "digests" / hashlib.sha256(repr(state).encode()).hexdigest()
        try:
            text = memo.read_text(encoding="ascii")
            if len(text) == 64:
                return text
        except (OSError, UnicodeDecodeError):
            pass
        digest = file_digest(path)
        if time.time_ns() - max(state[3], state[4]) > SETTLE_S * 1e9:
            self._write(memo, digest.encode())
        return digest

    def key(self, digest: str, settings: Any) -> str:
        text = "\n".join((self.version, settings_key(settings), digest))
        return hashlib.sha256(text.encode()).hexdigest()

    def _entry(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.pkl"

    def get(self, key: str) -> Any | None:
        """The stored result, or None (missing, or unreadable: treated as a miss)."""
        try:
            with open(self._entry(key), "rb") as fh:
                stored_key, result = pickle.load(fh)
        except Exception:
            return None
        if stored_key != key:
            return None
        try:
            os.utime(self._entry(key))      # recently used: kept longest by prune()
        except OSError:
            pass
        return result

    def put(self, key: str, result: Any) -> bool:
        """Store atomically (write a temporary file, then rename); False if not possible
        (a read-only or full disk only costs the speed-up)."""
        return self._write(self._entry(key),
                           pickle.dumps((key, result), protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def _write(path: Path, data: bytes) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return False
        return True

    def prune(self, max_bytes: int | None = None) -> int:
        """Delete the least recently used entries until the cache holds at most
        ``max_bytes`` (default ``$MYOFORCE_CACHE_MAX_MB``, else 500 MB); returns how many
        were deleted."""
        if max_bytes is None:
            max_bytes = int(float(os.environ.get("MYOFORCE_CACHE_MAX_MB", "500")) * 1e6)
        entries = []
        for f in [*self.folder.glob("*/*.pkl"), *self.folder.glob("digests/*")]:
            try:
                st = f.stat()
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, f))
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, f in sorted(entries, key=lambda e: e[0]):
            if total <= max_bytes:
                break
            try:
                f.unlink()
            except OSError:
                continue
            total -= size
            removed += 1
        return removed
