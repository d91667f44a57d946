"""The continuous force (and flag) stream copied into NWB a buffer at a time.

An hour at 10 kHz is 36 million samples; the exporter never holds it in memory. hdmf's
:class:`~hdmf.data_utils.GenericDataChunkIterator` asks for one buffer (a few MiB) at a
time, and hdmf writes each into a chunked, compressed NWB dataset as it comes, so
memory stays bounded whatever the length of the recording.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: samples per HDF5 chunk of the NWB datasets: 1 MiB of float32 (NWB suggests 1-10 MiB
#: chunks; a replay slice reads whole chunks, so not larger)
CHUNK_SAMPLES = 262_144
#: samples per buffer read from the source: 16 chunks, 16 MiB of float32
BUFFER_SAMPLES = 16 * CHUNK_SAMPLES
#: gzip is the filter every HDF5 reader (MATLAB, HDFView, h5py, MatNWB) has; level 1 with
#: byte shuffle compresses force nearly as well as level 9 at a fraction of the time;
#: Fletcher-32 lets any HDF5 reader detect a damaged chunk
COMPRESSION = {"compression": "gzip", "compression_opts": 1, "shuffle": True,
               "fletcher32": True}


class SourceReadError(Exception):
    """The source file could not be read (damaged storage): the export stops."""


#: why samples are left out (NaN in the force, 0 in the flags) and marked invalid
CAUSE_DAMAGED = "damaged (fails its CRC-32 check)"
CAUSE_UNCHECKED = "no checksum (written after the last checksum of an interrupted recording)"


def unreadable_ranges(force: Any) -> list[tuple[int, int, str]]:
    """``(start, stop, cause)`` of samples a checked session force refuses: blocks failing
    their CRC-32 and samples no checksum covers (:mod:`app.recorder.integrity`). Every
    block is checked now, once (one more read of the file); ``[]`` for other sources."""
    index = getattr(force, "index", None)
    if index is None or not hasattr(force, "check_all_now"):
        return []
    force.check_all_now()
    n = int(force.shape[0])
    out = [(int(a), int(min(b, n)), CAUSE_DAMAGED)
           for a, b, state in zip(index.starts, index.ends, index.state) if state == 2 and a < n]
    out += [(int(a), int(min(b, n)), CAUSE_UNCHECKED)
            for a, b in zip(index.uncovered_starts, index.uncovered_ends) if a < n]
    return sorted(out)


def raw_source(force: Any) -> Any:
    """What a checked force reads from (its checks done by :func:`unreadable_ranges`)."""
    return getattr(force, "source", force)


def chunked_dataset(source: Any, n: int, dtype: np.dtype,
                    blank: Sequence[tuple[int, int, str]] = (), fill: Any = 0) -> Any:
    """``source[:n]`` (an h5py dataset or an array) wrapped for hdmf: streamed in buffers,
    written chunked and gzip-compressed, the ``blank`` ranges replaced by ``fill``. An
    empty stream is written as an empty array."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from hdmf.data_utils import GenericDataChunkIterator

    dtype = np.dtype(dtype)
    if n == 0:
        return H5DataIO(data=np.zeros(0, dtype), maxshape=(None,))

    class _SliceIterator(GenericDataChunkIterator):
        """Reads ``source`` one buffer at a time (hdmf's contract: three small methods)."""

        def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
            a, b = selection[0].start or 0, selection[0].stop
            try:
                data = np.asarray(source[a:b], dtype=dtype)
            except (OSError, RuntimeError, ValueError) as exc:
                sel = selection[0]
                raise SourceReadError(f"samples {sel.start}-{sel.stop} cannot be read "
                                      f"({str(exc).splitlines()[0] if str(exc) else exc})"
                                      ) from None
            hit = [(lo, hi) for lo, hi, _ in blank if lo < b and hi > a]
            if hit:
                data = data.copy()          # never write into an in-memory source
                for lo, hi in hit:
                    data[max(lo, a) - a:min(hi, b) - a] = fill
            return data

        def _get_maxshape(self) -> tuple[int, ...]:
            return (n,)

        def _get_dtype(self) -> np.dtype:
            return dtype

    chunk = min(CHUNK_SAMPLES, n)
    buffer = min(BUFFER_SAMPLES, n) if n > BUFFER_SAMPLES else n
    iterator = _SliceIterator(chunk_shape=(chunk,), buffer_shape=(buffer,))
    return H5DataIO(data=iterator, **COMPRESSION)
