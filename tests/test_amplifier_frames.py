"""Frame codec of the force amplifier: byte-exact encoding and a parser that survives anything.

The property tests build streams from known frames, damage them in known ways, feed them in
arbitrary splits and check that the parser returns exactly the intact samples, with every
loss accounted for.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.amplifier.frames import (FRAME_SIZE, MAX_PLAUSIBLE_GAP, FrameParser, crc8,
                                      crc8_frames, crc8_rows, encode_end_of_stream, encode_frames)
from drivers.capabilities import FLAG_TRIGGER_EDGE


def _feed_all(parser: FrameParser, stream: bytes, cuts=()) -> dict:
    """Feed ``stream`` split at ``cuts``; collect everything the parser reports."""
    out = {"index": [], "counts": [], "flags": [], "runs": [], "gaps": [], "end": None,
           "trailing": b""}
    points = sorted(set(c for c in cuts if 0 < c < len(stream)))
    for a, b in zip([0, *points], [*points, len(stream)]):
        result = parser.feed(stream[a:b])
        for run in result.runs:
            assert run.counts.dtype == np.int32 and run.flags.dtype == np.uint8
            assert len(run.counts) == len(run.flags) > 0
            out["runs"].append((run.first, len(run)))
            out["index"].append(np.arange(run.first, run.end))
            out["counts"].append(run.counts)
            out["flags"].append(run.flags)
        out["gaps"].extend((g.at, g.lost) for g in result.gaps)
        if result.end_of_stream:
            out["end"] = result.end_index
        out["trailing"] += result.trailing
    for key in ("index", "counts", "flags"):
        out[key] = np.concatenate(out[key]) if out[key] else np.zeros(0, np.int64)
    return out


# ----------------------------------------------------------------------- byte-exact
def test_crc8_check_value_and_table_agree():
    assert crc8(b"123456789") == 0xF4
    assert crc8(b"") == 0
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, (200, 12), dtype=np.uint8)
    scalar = np.array([crc8(bytes(r[2:11])) for r in rows], dtype=np.uint8)
    assert np.array_equal(crc8_rows(rows[:, 2:11]), scalar)
    assert np.array_equal(crc8_frames(rows), scalar)
    assert crc8_rows(np.frombuffer(b"123456789", np.uint8)[None, :])[0] == 0xF4


def test_encode_known_frames_byte_exact():
    data = encode_frames(0x01020304, np.array([-2, 8388607]), np.array([0x03, 0x04], np.uint8))
    first = bytes.fromhex("a55a 04030201 feffffff 03")
    second = bytes.fromhex("a55a 05030201 ffff7f00 04")
    assert data == first + bytes([crc8(first[2:])]) + second + bytes([crc8(second[2:])])
    # a frame of zeros has CRC 0; seq wraps at 2**32
    assert encode_frames(0, np.zeros(1), np.zeros(1)) == bytes.fromhex("a55a") + bytes(10)
    wrapped = encode_frames(2**32 - 1, np.zeros(2), np.zeros(2))
    assert wrapped[2:6] == b"\xff\xff\xff\xff" and wrapped[14:18] == b"\x00\x00\x00\x00"
    eos = encode_end_of_stream(7)
    assert eos[:11] == bytes.fromhex("a55a 07000000 00000000 80") and eos[11] == crc8(eos[2:11])


def test_encode_rejects_values_that_do_not_fit():
    with pytest.raises(ValueError, match="int32"):
        encode_frames(0, np.array([2**31]), np.zeros(1))
    with pytest.raises(ValueError, match="uint8"):
        encode_frames(0, np.zeros(1), np.array([256]))
    with pytest.raises(ValueError, match="equal length"):
        encode_frames(0, np.zeros(2), np.zeros(3))


def test_parse_clean_stream_end_of_stream_and_trailing_bytes():
    counts = np.arange(-50, 50)
    flags = np.zeros(100, np.uint8)
    flags[[10, 77]] = FLAG_TRIGGER_EDGE
    stream = encode_frames(0, counts, flags) + encode_end_of_stream(100) + b"OK 0 no error\n"
    parser = FrameParser()
    got = _feed_all(parser, stream, cuts=[5, 13, 600, 1201])
    assert np.array_equal(got["index"], np.arange(100))
    assert np.array_equal(got["counts"], counts) and np.array_equal(got["flags"], flags)
    assert got["end"] == 100 and got["trailing"] == b"OK 0 no error\n"
    assert got["gaps"] == [] and parser.checksum_errors == 0 and parser.bytes_discarded == 0
    # after the end, everything is trailing: the device is back in command mode
    assert parser.feed(b"more").trailing == b"more"


def test_first_seq_and_unwrapping_past_2_32():
    start = 2**32 - 3
    parser = FrameParser(first_seq=start)
    got = _feed_all(parser, encode_frames(start, np.arange(6), np.zeros(6)))
    assert np.array_equal(got["index"], start + np.arange(6))  # 2**32 and beyond, no wrap
    assert got["runs"] == [(start, 6)]


def test_gaps_are_counted_exactly_and_split_the_output():
    stream = (encode_frames(0, np.arange(10), np.zeros(10))
              + encode_frames(13, np.arange(13, 20), np.zeros(7))        # 3 lost
              + encode_frames(120, np.arange(120, 125), np.zeros(5))     # 100 lost
              + encode_end_of_stream(130))                               # 5 lost at the end
    parser = FrameParser()
    got = _feed_all(parser, stream)
    assert got["runs"] == [(0, 10), (13, 7), (120, 5)]
    assert got["gaps"] == [(13, 3), (120, 100), (130, 5)]
    assert parser.lost_samples == 108 and parser.gaps == 3
    assert np.array_equal(got["counts"], got["index"])
    assert parser.bytes_discarded == 0 and parser.checksum_errors == 0


def test_false_sync_inside_frames_is_rejected():
    """A corrupted frame followed by bytes that look like a CRC-valid frame but carry an
    implausible seq: the receiver skips them instead of believing them."""
    good = encode_frames(0, np.arange(4), np.zeros(4))
    fake = encode_frames(0x7000_0000, np.array([99]), np.zeros(1))  # seq far away
    damaged = bytearray(encode_frames(4, np.array([4]), np.zeros(1)))
    damaged[7] ^= 0x10
    stream = good + bytes(damaged) + fake + encode_frames(5, np.arange(5, 9), np.zeros(4))
    parser = FrameParser()
    got = _feed_all(parser, stream)
    assert np.array_equal(got["index"], [0, 1, 2, 3, 5, 6, 7, 8])
    assert 99 not in got["counts"]
    assert parser.false_syncs == 1 and parser.checksum_errors == 1
    assert parser.bytes_discarded == 2 * FRAME_SIZE and got["gaps"] == [(5, 1)]


def test_relock_when_the_numbering_really_jumps():
    jump = MAX_PLAUSIBLE_GAP * 4
    stream = (encode_frames(0, np.arange(5), np.zeros(5))
              + encode_frames(jump, np.arange(4), np.zeros(4)))
    for cuts in ([], range(0, len(stream), 7)):  # 7-byte chunks: the re-lock waits for bytes
        parser = FrameParser()
        got = _feed_all(parser, stream, cuts)
        assert np.array_equal(got["index"], [0, 1, 2, 3, 4, jump, jump + 1, jump + 2, jump + 3])
        assert np.array_equal(got["counts"], [0, 1, 2, 3, 4, 0, 1, 2, 3])
        assert got["gaps"] == [(jump, jump - 5)] and parser.bytes_discarded == 0


# ------------------------------------------------------------------------ properties
@st.composite
def frame_streams(draw, max_frames=120):
    """Consecutive frames from some ``seq0``; sample values from a drawn seed (drawing each
    value through hypothesis is slow), in a drawn style so extremes and zeros occur too."""
    n = draw(st.integers(1, max_frames))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    style = draw(st.sampled_from(["random", "zeros", "extremes", "small"]))
    if style == "random":
        counts = rng.integers(-8388607, 8388608, n)
    elif style == "zeros":
        counts = np.zeros(n, np.int64)
    elif style == "extremes":
        counts = rng.choice([-8388607, -1, 0, 1, 8388607], n)
    else:
        counts = rng.integers(-300, 300, n)
    flags = rng.integers(0, 8, n).astype(np.uint8)  # never the end-of-stream bit in a stream
    seq0 = draw(st.sampled_from([0, 1, 2**31, 2**32 - 7]) | st.integers(0, 2**32 - 1))
    return seq0, counts, flags


@settings(max_examples=150, deadline=None)
@given(frame_streams(), st.lists(st.integers(0, 12 * 130), max_size=40))
def test_round_trip_through_any_chunk_split(stream_spec, cuts):
    seq0, counts, flags = stream_spec
    stream = encode_frames(seq0, counts, flags) + encode_end_of_stream(seq0 + len(counts))
    parser = FrameParser(first_seq=seq0)
    got = _feed_all(parser, stream, cuts)
    assert np.array_equal(got["index"], seq0 + np.arange(len(counts)))
    assert np.array_equal(got["counts"], counts) and np.array_equal(got["flags"], flags)
    assert len(got["runs"]) <= len(set(cuts)) + 1  # split only where the chunks were split
    assert got["end"] == seq0 + len(counts) and got["gaps"] == []
    assert parser.bytes_discarded == parser.checksum_errors == parser.resyncs == 0


@st.composite
def damaged_streams(draw):
    """Frames with single-bit flips in some and garbage between some (garbage without 0xA5,
    so it can never start a sync; flips can still fake syncs inside frames)."""
    seq0, counts, flags = draw(frame_streams(max_frames=150))
    n = len(counts)
    frames = bytearray(encode_frames(seq0, counts, flags))
    flipped = sorted(draw(st.sets(st.integers(0, n - 1), max_size=max(1, n // 4))))
    for k in flipped:
        bit = draw(st.integers(0, FRAME_SIZE * 8 - 1))
        frames[k * FRAME_SIZE + bit // 8] ^= 1 << (bit % 8)
    garbage_at = draw(st.dictionaries(st.integers(0, n), st.binary(min_size=1, max_size=40),
                                      max_size=8))
    parts, garbage_total = [], 0
    for k in range(n + 1):
        if k in garbage_at:
            junk = garbage_at[k].replace(b"\xa5", b"\x5a")
            parts.append(junk)
            garbage_total += len(junk)
        if k < n:
            parts.append(bytes(frames[k * FRAME_SIZE:(k + 1) * FRAME_SIZE]))
    parts.append(encode_end_of_stream(seq0 + n))
    return seq0, counts, flags, set(flipped), b"".join(parts), garbage_total


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_streams(), st.lists(st.integers(0, 8000), max_size=30))
def test_damaged_stream_yields_exactly_the_intact_samples(spec, cuts):
    seq0, counts, flags, flipped, stream, garbage_total = spec
    n = len(counts)
    parser = FrameParser(first_seq=seq0)
    got = _feed_all(parser, stream, cuts)
    intact = np.array([k for k in range(n) if k not in flipped], dtype=np.int64)
    # every accepted sample is a genuine one, and every intact one is accepted
    assert np.array_equal(got["index"], seq0 + intact)
    assert np.array_equal(got["counts"], counts[intact])
    assert np.array_equal(got["flags"], flags[intact])
    # every loss is accounted for
    assert got["end"] == seq0 + n
    assert parser.lost_samples == len(flipped) == sum(lost for _, lost in got["gaps"])
    assert parser.bytes_discarded == garbage_total + FRAME_SIZE * len(flipped)
    assert parser.checksum_errors <= len(flipped) + parser.bytes_discarded
    for at, lost in got["gaps"]:  # a gap is reported exactly where the missing run ends
        missing = set(range(at - lost - seq0, at - seq0))
        assert missing <= flipped and (at - seq0 == n or (at - seq0) not in flipped)
    if flipped or garbage_total:
        assert parser.resyncs >= 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=20))
def test_random_bytes_never_crash_the_parser(noise, cuts):
    parser = FrameParser()
    got = _feed_all(parser, noise, cuts)
    # whatever was accepted is internally consistent
    assert np.all(np.diff(got["index"]) > 0)
    accepted_bytes = FRAME_SIZE * len(got["index"])
    assert accepted_bytes + parser.bytes_discarded + parser.pending_bytes <= len(noise)
    assert parser.bytes_discarded >= 0 and parser.checksum_errors >= 0


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=500), frame_streams(max_frames=60), st.lists(st.integers(0, 2000), max_size=20))
def test_noise_before_a_stream_is_skipped(noise, stream_spec, cuts):
    """Line noise before the first frame (no 0xA5 in it) is discarded and counted."""
    _, counts, flags = stream_spec
    noise = noise.replace(b"\xa5", b"")
    stream = noise + encode_frames(0, counts, flags) + encode_end_of_stream(len(counts))
    parser = FrameParser()
    got = _feed_all(parser, stream, cuts)
    assert np.array_equal(got["counts"], counts) and np.array_equal(got["index"], np.arange(len(counts)))
    assert parser.bytes_discarded == len(noise) and got["end"] == len(counts)
