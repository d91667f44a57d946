"""What one parsed chunk of the amplifier stream means for the stream's counters and for
its subscribers: pure functions of a :class:`~drivers.amplifier.frames.ParseResult`.

Nothing that goes wrong in a stream is dropped silently (docs/wire-protocols.md,
section 2): every lost sample, failed CRC and resynchronisation is counted in
:class:`~drivers.capabilities.StreamStats` and announced as a
:class:`~drivers.capabilities.StreamNotice`. The reader thread of the driver applies
these to its state and emits them.
"""
from __future__ import annotations

from drivers.amplifier.frames import ParseResult
from drivers.capabilities import StreamNotice, StreamStats


def stats_after(stats: StreamStats, result: ParseResult) -> StreamStats:
    """The stream's counters once ``result`` is taken in (``sink_overflows`` unchanged)."""
    return StreamStats(
        samples=stats.samples + result.samples, blocks=stats.blocks + len(result.runs),
        gaps=stats.gaps + len(result.gaps),
        lost_samples=stats.lost_samples + sum(g.lost for g in result.gaps),
        checksum_errors=stats.checksum_errors + result.checksum_errors,
        bytes_discarded=stats.bytes_discarded + result.bytes_discarded,
        sink_overflows=stats.sink_overflows)


def result_notices(result: ParseResult, next_index: int) -> list[StreamNotice]:
    """The notices ``result`` calls for, in order: one per gap (at the sample where it
    ends), then one for failed CRCs and one for lost frame sync, at ``next_index``."""
    notices = [StreamNotice("gap", f"{gap.lost} sample(s) lost before sample {gap.at}",
                            gap.at, gap.lost) for gap in result.gaps]
    if result.checksum_errors:
        notices.append(StreamNotice("checksum", f"{result.checksum_errors} frame(s) failed "
                                    "the CRC check", next_index, result.checksum_errors))
    if result.bytes_discarded:
        notices.append(StreamNotice("resync", f"frame sync lost {result.resyncs} time(s): "
                                    f"{result.bytes_discarded} byte(s) discarded while "
                                    "resynchronizing", next_index, result.bytes_discarded))
    return notices
