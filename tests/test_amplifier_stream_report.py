"""What a parsed chunk means for the stream's counters and notices: nothing that went
wrong is dropped, every count lands in the stats and in a notice."""
from __future__ import annotations

import numpy as np

from drivers.amplifier.frames import Gap, ParseResult, Run
from drivers.amplifier.stream_report import result_notices, stats_after
from drivers.capabilities import StreamStats


def run(first: int, n: int) -> Run:
    return Run(first, np.zeros(n, np.int32), np.zeros(n, np.uint8))


def test_a_clean_chunk_counts_samples_and_blocks_and_says_nothing():
    result = ParseResult(runs=[run(0, 100), run(100, 50)])
    stats = stats_after(StreamStats(samples=10, blocks=1, sink_overflows=2), result)
    assert stats == StreamStats(samples=160, blocks=3, sink_overflows=2)
    assert result_notices(result, 150) == []


def test_gaps_crc_failures_and_resyncs_are_counted_and_each_announced():
    result = ParseResult(runs=[run(0, 10), run(15, 10), run(40, 5)],
                         gaps=[Gap(15, 5), Gap(40, 15)], checksum_errors=3,
                         bytes_discarded=24, resyncs=2)
    stats = stats_after(StreamStats(gaps=1, lost_samples=7, checksum_errors=1), result)
    assert (stats.samples, stats.blocks, stats.gaps, stats.lost_samples) == (25, 3, 3, 27)
    assert (stats.checksum_errors, stats.bytes_discarded) == (4, 24)
    notices = result_notices(result, 45)
    assert [(n.kind, n.sample, n.count) for n in notices] == [
        ("gap", 15, 5), ("gap", 40, 15), ("checksum", 45, 3), ("resync", 45, 24)]
    assert "2 time(s)" in notices[-1].message and "24 byte(s)" in notices[-1].message
