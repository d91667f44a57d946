"""The recorder's checks of incoming sample blocks, once per batch, and the write pieces.

The writer thread takes its inbox whole, a few times a second. A sane batch (every
block at the recording's rate, force and flags 1-D and equally long, each block
starting at or after the end of the one before) is checked in a few C-level passes
(``map``/``attrgetter``, set and list comparisons, numpy on the indices), not block by
block in Python: the per-block checks were two thirds of the writer's time (issue 14).
Anything else is checked block by block, so the offending blocks are named.
"""
from __future__ import annotations

import operator
from typing import Sequence

import numpy as np

from drivers.capabilities import SampleBlock

_RATE = operator.attrgetter("sample_rate_hz")
_FORCE = operator.attrgetter("force_mN")
_FLAGS = operator.attrgetter("flags")
_NDIM = operator.attrgetter("ndim")
_FIRST = operator.attrgetter("first_sample")

#: relative tolerance between a block's sample rate and the recording's
RATE_TOLERANCE = 1e-9


def batch_layout(blocks: Sequence[SampleBlock], rate: float, next_sample: int | None
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(first_sample, length)`` (int64 arrays) of every block of a sane batch that
    starts at or after ``next_sample``; ``None`` when any block needs a closer look."""
    tol = RATE_TOLERANCE * rate
    try:
        if any(abs(r - rate) > tol for r in set(map(_RATE, blocks))):
            return None
        forces, flags = list(map(_FORCE, blocks)), list(map(_FLAGS, blocks))
        if set(map(_NDIM, forces)) != {1} or set(map(_NDIM, flags)) != {1}:
            return None
        lengths = list(map(len, forces))
        if lengths != list(map(len, flags)):
            return None
        first = np.fromiter(map(_FIRST, blocks), np.int64, len(blocks))
    except (AttributeError, TypeError, ValueError):  # not numpy arrays: one by one
        return None
    n = np.array(lengths, dtype=np.int64)
    if (n.min() <= 0 or (next_sample is not None and first[0] < next_sample)
            or (first[1:] < first[:-1] + n[:-1]).any()):
        return None
    return first, n


def contiguous_runs(first: np.ndarray, n: np.ndarray) -> list[tuple[int, int]]:
    """``[i, j)`` block ranges of a sane batch whose blocks follow each other without a
    gap (a gap in the stream starts a new run)."""
    breaks = np.flatnonzero(first[1:] != first[:-1] + n[:-1]) + 1
    edges = [0, *breaks.tolist(), len(first)]
    return list(zip(edges[:-1], edges[1:]))


def block_problem(block: SampleBlock, rate: float, next_sample: int | None) -> str | None:
    """Why one block cannot be recorded (one line), or ``None`` when it can."""
    if abs(block.sample_rate_hz - rate) > RATE_TOLERANCE * rate:
        return f"block at {block.sample_rate_hz:g} Hz in a {rate:g} Hz recording"
    if np.shape(block.flags) != np.shape(block.force_mN) or np.ndim(block.force_mN) != 1:
        return "block force and flags differ in shape"
    if next_sample is not None and block.first_sample < next_sample:
        return (f"block starts at sample {block.first_sample}, before the end of the data "
                f"already recorded ({next_sample}): out of order or stream restarted")
    return None


def chunk_aligned(start: int, n: int, size: int) -> list[tuple[int, int]]:
    """``[a, b)`` offsets into ``n`` samples that start at stream index ``start``, cut at
    every multiple of ``size`` in the stream (so each piece lies inside one chunk)."""
    cuts = list(range(-start % size or size, n, size))
    edges = [0, *cuts, n]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
