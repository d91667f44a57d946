"""The recorder's batch checks: a sane batch passes in one go, anything odd is sent to
the per-block check, which names the problem; writes are cut on chunk boundaries."""
from __future__ import annotations

import numpy as np
import pytest

from app.recorder.block_checks import batch_layout, block_problem, chunk_aligned, contiguous_runs
from drivers.capabilities import SampleBlock

RATE = 1000.0


def blk(first: int, n: int = 10, rate: float = RATE) -> SampleBlock:
    return SampleBlock(first, np.zeros(n, np.float32), np.zeros(n, np.uint8), rate)


def test_a_sane_batch_gives_every_block_start_and_length():
    layout = batch_layout([blk(0), blk(10), blk(25, 5)], RATE, None)
    assert layout is not None
    first, n = layout
    assert first.tolist() == [0, 10, 25] and n.tolist() == [10, 10, 5]
    assert contiguous_runs(first, n) == [(0, 2), (2, 3)]     # a gap before sample 25


@pytest.mark.parametrize("blocks, next_sample", [
    ([blk(0), blk(10, rate=2000.0)], None),                  # another rate
    ([blk(0), blk(5)], None),                                # overlaps the previous block
    ([blk(0), blk(10, 0)], None),                            # an empty block
    ([blk(0)], 5),                                           # before what is recorded
    ([blk(0), SampleBlock(10, np.zeros((10, 2), np.float32), np.zeros(10, np.uint8), RATE)], None),
    ([blk(0), SampleBlock(10, np.zeros(10, np.float32), np.zeros(9, np.uint8), RATE)], None),
    ([blk(0), SampleBlock(10, [0.0] * 10, [0] * 10, RATE)], None),   # not numpy arrays
])
def test_anything_odd_is_left_to_the_per_block_check(blocks, next_sample):
    assert batch_layout(blocks, RATE, next_sample) is None


def test_the_per_block_check_names_the_problem():
    assert block_problem(blk(0), RATE, None) is None
    assert "2000 Hz in a 1000 Hz" in block_problem(blk(0, rate=2000.0), RATE, None)
    bad = SampleBlock(0, np.zeros(10, np.float32), np.zeros(9, np.uint8), RATE)
    assert "differ in shape" in block_problem(bad, RATE, None)
    assert "before the end of the data already recorded (20)" in block_problem(blk(10), RATE, 20)


@pytest.mark.parametrize("start, n", [(0, 10), (0, 64), (60, 10), (5, 200), (63, 1), (128, 64)])
def test_write_pieces_cover_the_run_and_never_cross_a_chunk(start, n):
    size = 64
    pieces = chunk_aligned(start, n, size)
    assert pieces[0][0] == 0 and pieces[-1][1] == n
    assert all(b0 == a1 for (_, b0), (a1, _) in zip(pieces, pieces[1:]))
    for a, b in pieces:
        assert 0 < b - a <= size
        assert (start + a) // size == (start + b - 1) // size
