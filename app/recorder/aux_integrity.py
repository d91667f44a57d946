"""Checksums of the auxiliary channels (``/aux/<name>``, format 1.2): reading and checking.

Since format 1.2 the writer stores, in every ``/integrity`` row, one more CRC-32 per
auxiliary channel: column ``crc_aux_<name>`` (:func:`app.recorder.layout.aux_crc_column`),
over the channel's samples of that written block as little-endian float32 bytes. So
an auxiliary channel is checked exactly as force is: :class:`CheckedAux` refuses reads
of a damaged block (or of samples no checksum covers) with
:class:`~app.recorder.integrity.DamagedDataError`, and shows them as NaN to a display.

Files of format 1.1 have ``/aux`` but no such columns: they still open and read as
before, with one note (:func:`unchecked_aux_note`) saying their auxiliary channels are
unchecked — never an error. A 1.2 file without a channel's column is damaged: that
channel's reads are refused.
"""
from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from app.recorder import layout as L
from app.recorder.checked_force import CHECK_PIECE, CheckedSamples
from app.recorder.integrity import DamagedDataError


def crc_of(ds: Any, a: int, b: int) -> int:
    """CRC-32 of ``ds[a:b]`` as little-endian float32 bytes, read a piece at a time (a
    block of a recovered copy can be the whole recording)."""
    crc = 0
    for lo in range(a, b, CHECK_PIECE):
        crc = zlib.crc32(np.ascontiguousarray(ds[lo:min(b, lo + CHECK_PIECE)], dtype="<f4"),
                         crc)
    return crc


def unchecked_channels(sf: Any) -> list[str]:
    """The auxiliary channels a file written before they had checksums (format < 1.2)
    holds without a CRC-32 column: read as stored. [] for a 1.2 file, where a missing
    column is damage (its reads are refused), not a note."""
    if sf.aux_checksummed_format:
        return []
    return [name for name in L.aux_names(sf.h5) if sf.aux_crc(name) is None]


def unchecked_aux_note(sf: Any) -> str | None:
    """The note for a file whose auxiliary channels are unchecked
    (:func:`unchecked_channels`); None if there are none."""
    names = unchecked_channels(sf)
    if not names:
        return None
    return (f"auxiliary channel(s) {', '.join(names)} are unchecked: format "
            f"{sf.format_version or '?'} files have no checksums for /aux (force and flags "
            "are checked as always)")


class CheckedAux(CheckedSamples):
    """Auxiliary channel ``name`` of a session file (format 1.2), refusing reads of damaged
    samples: each block's ``crc_aux_<name>``, and NaN in logged gaps."""

    def __init__(self, sf: Any, name: str, data: Any | None = None) -> None:
        crc = sf.aux_crc(name)
        stored = crc if crc is not None else np.zeros(0, np.int64)
        super().__init__(sf, sf.aux(name), data, rows=stored.size)
        self.label = f"aux channel '{name}': "
        self.name = name
        self._column_missing = crc is None
        self._ds = sf.aux(name)
        self._crc = stored[self.index.rows]          # in block order

    def check(self, start: int, stop: int) -> None:
        if self._column_missing and stop > start:
            raise DamagedDataError(
                f"{self.path}: {self.label}no checksum column /{L.INTEGRITY}/"
                f"{L.aux_crc_column(self.name).name} in a format 1.2 file: damaged, not "
                "measured")
        super().check(start, stop)

    def _refused_spans(self, start: int, stop: int) -> list[tuple[int, int]]:
        if self._column_missing:
            return [(start, stop)]
        return super()._refused_spans(start, stop)

    def _release(self) -> None:
        self._gap_ds = self._ds = None

    def _block_ok(self, k: int) -> bool:
        a, b = int(self.index.starts[k]), int(self.index.ends[k])
        if b > min(self.n, int(self._ds.shape[0])):
            return False
        return crc_of(self._ds, a, b) == int(self._crc[k])


def checked_aux(sf: Any, lazy: bool = True) -> dict[str, Any]:
    """A loaded recording's auxiliary channels: :class:`CheckedAux` where the file has
    checksums (a 1.2 file, or a damaged one), the samples as stored in a 1.1 file
    (unchecked: :func:`unchecked_aux_note`). Eager channels are read and checked now."""
    n, unchecked = sf.samples, set(unchecked_channels(sf))
    out: dict[str, Any] = {}
    for c in sf.aux_channels:
        name = c["name"]
        data = None if lazy else np.asarray(sf.aux(name)[:n], dtype=np.float32)
        if name in unchecked:
            out[name] = sf.aux(name) if lazy else data
            continue
        out[name] = CheckedAux(sf, name, data)
        if not lazy:
            out[name].check_all_now()
    return out


__all__ = ["CheckedAux", "checked_aux", "crc_of", "unchecked_aux_note", "unchecked_channels"]
