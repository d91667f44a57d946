"""Disk space and file-size limits: the writer stops *before* a write could fail.

A write that HDF5 cannot finish can leave a file that no reader opens; so before each
write the writer asks whether the disk would still hold ``min_free_bytes`` afterwards
and whether a file-size limit (RLIMIT_FSIZE) is near, and if not closes the file
cleanly from the reserve (docs/file-format.md).
"""
from __future__ import annotations

import errno
import os
import shutil

from app.recorder import layout as L

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

#: room kept free under a file-size limit (RLIMIT_FSIZE) to close the file cleanly
_FSIZE_RESERVE = 4 << 20
#: bytes a write may need beyond its samples: new chunks, metadata, table rows
_WRITE_MARGIN = 2 * L.FORCE_CHUNK * 5 + (1 << 20)


class DiskSpaceLow(OSError):
    """Raised by the writer *before* a write that could run the disk (or the file-size
    limit) out of space, so the file can still be closed cleanly from the reserve."""


def check_space(directory: str, path: "os.PathLike[str] | str", min_free_bytes: int,
                samples: int) -> None:
    """Raise DiskSpaceLow if writing ``samples`` to ``path`` (on the disk of ``directory``)
    could leave less than ``min_free_bytes`` free or reach the file-size limit."""
    need = samples * 5 + _WRITE_MARGIN
    free = shutil.disk_usage(directory).free
    if free - need < min_free_bytes:
        raise DiskSpaceLow(errno.ENOSPC, f"disk almost full: {free / 1e6:.0f} MB free, "
                           f"{min_free_bytes / 1e6:.0f} MB kept in reserve to "
                           "close the file")
    if resource is not None:
        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY:
            size = os.path.getsize(path)
            if size + need + _FSIZE_RESERVE > soft:
                raise DiskSpaceLow(errno.EFBIG, f"file size limit reached: {size} of "
                                   f"{soft} bytes used")
