"""The two stream rules (trigger edge, gap count) are one piece of code that every
consumer of the sample stream shares: the runner's window, the GUI ring, the recorder."""
from __future__ import annotations

import numpy as np

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
