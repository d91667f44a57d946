"""Load any supported recording file into a :class:`app.recording.Recording`.

``load_recording(path)`` picks the reader from the file's content first (an HDF5
signature or a DMC header line), then from its extension:

* ``.h5`` / ``.hdf5`` — myoforce session files (``app.recorder.reader``);
* ``.ddf`` — Aurora Scientific DMC data files (``app.importers.ddf``);
* ``.csv`` — ``time_s,force_mN,stim`` text files (``app.importers.csv``);
* ``.nwb`` — NWB files written by ``myoforce export`` (``app.nwb.reader``).

Anything else raises :class:`FileFormatError` naming the file.
"""
from __future__ import annotations

from pathlib import Path

from app.errors import FileFormatError
from app.recording import Recording

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def detect_format(path: str | Path) -> str:
    """'myoforce-h5', 'nwb', 'aurora-ddf' or 'csv'; FileFormatError when unknown or
    unreadable."""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a directory, not a recording file")
    if not path.is_file():      # a serial port or a pipe: reading it may never end
        raise FileFormatError(f"{path}: not a regular file (a device or a pipe?), "
                              f"not a recording file")
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    from app.importers.ddf import is_ddf
    ext = path.suffix.lower()
    if not head and ext != ".csv":      # (the CSV reader says what an empty CSV lacks)
        raise FileFormatError(f"{path}: empty file (0 bytes), not a recording")
    if head.startswith(HDF5_SIGNATURE):
        return "nwb" if ext == ".nwb" else "myoforce-h5"
    if ext == ".nwb":
        raise FileFormatError(f"{path}: has an .nwb extension but is not an HDF5 (NWB) file")
    if is_ddf(head):
        return "aurora-ddf"
    if ext in (".h5", ".hdf5"):
        raise FileFormatError(f"{path}: has an HDF5 extension but is not an HDF5 file")
    if ext == ".ddf":
        raise FileFormatError(f"{path}: not an Aurora DMC .ddf file (first line is not "
                              f"'DMC... Data File')")
    if ext == ".csv":
        return "csv"
    raise FileFormatError(f"{path}: unknown file type '{ext or '(no extension)'}' "
                          f"(supported: .h5/.hdf5 myoforce sessions, .nwb myoforce exports, "
                          f".ddf Aurora DMC, .csv)")


def load_recording(path: str | Path) -> Recording:
    """Read a recording of any supported format (see module docstring)."""
    fmt = detect_format(path)
    if fmt == "aurora-ddf":
        from app.importers.ddf import load_ddf
        return load_ddf(path)
    if fmt == "csv":
        from app.importers.csv import load_csv
        return load_csv(path)
    if fmt == "nwb":
        from app.nwb.reader import load_nwb
        return load_nwb(path)
    try:
        from app.recorder.reader import load_recording as load_h5
    except ImportError as exc:
        raise FileFormatError(f"{path}: reading myoforce HDF5 sessions needs "
                              f"app.recorder.reader, which is not available ({exc})") from exc
    return load_h5(path)
