"""The two stream rules (trigger edge, gap count) are one piece of code that every
consumer of the sample stream shares: the runner's window, the GUI ring, the recorder."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.live.ring_buffer import RingBuffer
from drivers.capabilities import (FLAG_TRIGGER_EDGE, FLAG_TRIGGER_LEVEL, SampleBlock,
                                  samples_missing, trigger_edges)
from protocols.engine.stream import StreamBuffer


def _block(first: int, n: int, edges: list[int]) -> SampleBlock:
    flags = np.full(n, FLAG_TRIGGER_LEVEL, dtype=np.uint8)      # level alone is no edge
    flags[[e - first for e in edges]] |= FLAG_TRIGGER_EDGE
    return SampleBlock(first, np.arange(n, dtype=np.float32), flags, 1000.0)


def test_trigger_edges_are_stream_indices_of_edge_flags_only():
    block = _block(500, 100, [510, 599])
    assert trigger_edges(block.flags, 500).tolist() == [510, 599]
    assert block.trigger_samples().tolist() == [510, 599]
    assert trigger_edges(np.zeros(0, np.uint8), 7).dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(n=st.one_of(st.integers(0, 5000), st.integers(4096, 20_000)), density=st.sampled_from([0.0, 0.001, 0.05, 0.5]),
       offset=st.integers(0, 7), first=st.integers(0, 10**9), seed=st.integers(0, 2**16))
def test_trigger_edges_word_scan_matches_the_plain_definition(n, density, offset, first, seed):
    """Long runs are scanned eight flags at a time: same indices as the byte-wise rule, for
    any length, any alignment (a slice starting mid-word) and any other bits set."""
    rng = np.random.default_rng(seed)
    flags = rng.integers(0, 256, n + offset).astype(np.uint8) & ~np.uint8(FLAG_TRIGGER_EDGE)
    flags[rng.random(n + offset) < density] |= FLAG_TRIGGER_EDGE
    if n and seed % 2:                      # edges on the first and the last sample too
        flags[[offset, -1]] |= FLAG_TRIGGER_EDGE
    view = flags[offset:]
    expected = np.flatnonzero(view & FLAG_TRIGGER_EDGE) + first
    got = trigger_edges(view, first)
    assert got.dtype == np.int64
    assert got.tolist() == expected.tolist()


def test_samples_missing_counts_forward_jumps_only():
    assert samples_missing(None, 400) == 0          # nothing expected yet
    assert samples_missing(100, 100) == 0
    assert samples_missing(100, 130) == 30
    assert samples_missing(100, 40) == 0            # a restart is not a gap


def test_runner_window_and_gui_ring_agree_on_edges_and_gaps():
    blocks = [_block(0, 100, [10]), _block(150, 100, [160, 249])]   # 50 samples lost
    buf, ring = StreamBuffer(), RingBuffer(1000, 1000.0)
    for b in blocks:
        buf.put(b)
        ring.write_block(b)
    assert buf.lost_samples == ring.lost_samples == 50
    window = buf.window(0, 250)
    snap = ring.read(0, 250)
    assert isinstance(window, SampleBlock) and window.first_sample == 0
    assert window.trigger_samples().tolist() == snap.stim_samples.tolist() == [10, 160, 249]
    assert buf.trigger_edges(0).tolist() == [10, 160, 249]
    assert np.isnan(window.force_mN[100:150]).all() and np.isnan(snap.force_mN[100:150]).all()
