"""Ring buffer, playback feeder and min/max decimation (Qt-free)."""
import threading

import numpy as np
import pytest

from app.live.decimate import MinMaxPyramid, minmax_bins
from app.live.playback import Playback
from app.live.ring_buffer import RingBuffer
from app.recording import Recording, Trial
from drivers.capabilities import FLAG_TRIGGER_EDGE, SampleBlock


def _block(first, n, rate=1000.0, edges=()):
    force = np.arange(first, first + n, dtype=np.float32)
    flags = np.zeros(n, dtype=np.uint8)
    for e in edges:
        flags[e - first] |= FLAG_TRIGGER_EDGE
    return SampleBlock(first, force, flags, rate)


def test_read_last_exact_before_and_after_wraparound():
    rb = RingBuffer(100, 1000.0)
    rb.write_block(_block(0, 30))
    snap = rb.read_last(0.05)            # 50 samples asked, only 30 exist
    assert snap.first_sample == 0 and len(snap) == 30
    np.testing.assert_array_equal(snap.force_mN, np.arange(30))
    for first in range(30, 1000, 37):    # many wraparounds, blocks straddle the seam
        rb.write_block(_block(first, 37))
    assert rb.end_sample == 1029
    assert rb.start_sample == 929
    snap = rb.read_last(0.08)
    assert snap.first_sample == 1029 - 80 and snap.end_sample == 1029
    np.testing.assert_array_equal(snap.force_mN, np.arange(949, 1029, dtype=np.float32))
    # the whole buffer, exactly the newest capacity samples
    snap = rb.read_last(10.0)
    np.testing.assert_array_equal(snap.force_mN, np.arange(929, 1029, dtype=np.float32))


def test_block_larger_than_capacity_keeps_newest():
    rb = RingBuffer(64, 1000.0)
    rb.write_block(_block(5, 1000))
    snap = rb.read_last(1.0)
    np.testing.assert_array_equal(snap.force_mN, np.arange(941, 1005, dtype=np.float32))


def test_stimulus_markers_follow_trigger_flags():
    rb = RingBuffer(1000, 1000.0)
    rb.write_block(_block(0, 500, edges=(10, 250, 499)))
    rb.write_block(_block(500, 500, edges=(700,)))
    snap = rb.read(200, 800)
    assert snap.stim_samples.tolist() == [250, 499, 700]
    assert (snap.flags[np.asarray([250, 499, 700]) - 200] & FLAG_TRIGGER_EDGE).all()
    assert rb.stim_samples(since=600).tolist() == [700]


def test_gap_is_nan_and_counted_restart_resets():
    rb = RingBuffer(1000, 1000.0)
    rb.write_block(_block(0, 100))
    rb.write_block(_block(150, 50))
    assert rb.lost_samples == 50
    snap = rb.read(0, 200)
    assert np.isnan(snap.force_mN[100:150]).all()
    assert not np.isnan(snap.force_mN[:100]).any() and not np.isnan(snap.force_mN[150:]).any()
    gen = rb.generation
    rb.write_block(_block(0, 10))        # amplifier restarted at 0
    assert rb.generation == gen + 1 and rb.end_sample == 10 and rb.start_sample == 0


def test_markers_and_rate_change():
    rb = RingBuffer(1000, 1000.0)
    rb.write_block(_block(0, 100))
    rb.add_marker("twitch 1", 50, kind="trial")
    snap = rb.read_last(1.0)
    assert [m.label for m in snap.markers] == ["twitch 1"]
    rb.write_block(_block(0, 10, rate=2000.0))
    assert rb.sample_rate_hz == 2000.0 and rb.markers() == []


def test_concurrent_writer_reader_sees_consistent_data():
    """A writer thread streams a ramp; readers must always see consecutive values."""
    rb = RingBuffer(5000, 10_000.0)
    total = 400_000
    errors = []

    def writer():
        for first in range(0, total, 97):
            n = min(97, total - first)
            rb.write(first, np.arange(first, first + n, dtype=np.float32))

    t = threading.Thread(target=writer)
    t.start()
    reads = 0
    while t.is_alive() or reads < 5:
        snap = rb.read_last(0.3)
        if len(snap):
            expected = np.arange(snap.first_sample, snap.end_sample, dtype=np.float32)
            if not np.array_equal(snap.force_mN, expected):
                errors.append(snap.first_sample)
        reads += 1
    t.join()
    assert not errors
    assert rb.end_sample == total
    np.testing.assert_array_equal(rb.read_last(0.5).force_mN,
                                  np.arange(total - 5000, total, dtype=np.float32))


def test_minmax_bins_keeps_extremes():
    rng = np.random.default_rng(1)
    y = rng.normal(size=10_007).astype(np.float32)
    y[1234] = 50.0
    y[9999] = -40.0
    lo, hi = minmax_bins(y, 100)
    assert len(lo) == 101
    assert hi.max() == 50.0 and lo.min() == -40.0
    assert hi[12] == 50.0 and lo[99] == -40.0
    np.testing.assert_array_equal(lo[:100], y[:10_000].reshape(100, 100).min(axis=1))


def test_pyramid_query_keeps_peaks_at_every_zoom():
    n = 2_000_000
    y = np.zeros(n, dtype=np.float32)
    spikes = [123_457, 1_000_001, 1_999_998]
    y[spikes] = [10.0, 20.0, 30.0]
    y[777_777] = -5.0
    pyr = MinMaxPyramid(y, base=16, factor=8, min_bins=500)
    assert len(pyr.levels) >= 3
    x, v = pyr.query(0, n, max_points=2000)
    assert len(x) <= 2000
    assert v.max() == 30.0 and v.min() == -5.0
    x, v = pyr.query(900_000, 1_100_000, max_points=2000)
    assert v.max() == 20.0 and 900_000 <= x[np.argmax(v)] <= 1_100_000
    # short span: raw samples, exact indices
    x, v = pyr.query(1_000_000, 1_000_010, max_points=2000)
    assert x.tolist() == list(range(1_000_000, 1_000_010)) and v[1] == 20.0
    # memory stays a small fraction of the data
    assert pyr.nbytes < y.nbytes // 4


def _recording(rate=1000.0, n=5000):
    force = np.sin(np.arange(n) / 50.0).astype(np.float32)
    stim = np.array([1000, 3000, 3020], dtype=np.int64)
    trials = [Trial(0, "twitch", 950, 1500, stim[:1]),
              Trial(1, "tetanus", 2950, 3500, stim[1:], frequency_hz=50.0)]
    return Recording("mem", "test", rate, force, stim, trials)


def test_playback_feeds_at_speed_with_markers():
    rec = _recording()
    now = [0.0]
    rb = RingBuffer(10_000, 1.0)
    pb = Playback(rec, rb, clock=lambda: now[0], speed=2.0, max_chunk_s=5.0)
    assert rb.sample_rate_hz == 1000.0
    pb.play()
    now[0] = 1.0
    assert pb.tick() == 2000                 # 1 s at 2x = 2000 samples
    snap = rb.read_last(100)
    np.testing.assert_array_equal(snap.force_mN, rec.force_mN[:2000])
    assert snap.stim_samples.tolist() == [1000]
    pb.set_speed(500)                        # clamped to 50x
    assert pb.speed == 50.0
    now[0] = 2.0
    pb.tick()
    assert pb.finished and not pb.playing
    snap = rb.read_last(100)
    assert snap.stim_samples.tolist() == [1000, 3000, 3020]
    assert [m.label for m in rb.markers()] == ["twitch 0", "tetanus 1 50 Hz"]
    np.testing.assert_array_equal(snap.force_mN, rec.force_mN)


def test_playback_takes_comments_added_while_it_plays():
    """A comment added afterwards in replay: behind the position it is on the trace at
    once (no seek), ahead of it when playback gets there; twins both count, none twice."""
    rec = _recording()
    rb = RingBuffer(10_000, 1000.0)
    pb = Playback(rec, rb, comments=[(500, "old")], prefill_s=5.0)   # a seek feeds from 0
    pb.seek(2500)
    assert [(m.sample, m.label) for m in rb.markers() if m.kind == "comment"] == [(500, "old")]
    pb.set_comments([(500, "old"), (1200, "new"), (1200, "new"), (3500, "later")])
    assert [(m.sample, m.label) for m in rb.markers() if m.kind == "comment"] == [
        (500, "old"), (1200, "new"), (1200, "new")]
    pb.seek(4000)                              # fed again from the start: each once
    assert [(m.sample, m.label) for m in rb.markers() if m.kind == "comment"] == [
        (500, "old"), (1200, "new"), (1200, "new"), (3500, "later")]


def test_playback_seek_pause_and_catch_up_limit():
    rec = _recording()
    now = [0.0]
    rb = RingBuffer(10_000, 1000.0)
    pb = Playback(rec, rb, clock=lambda: now[0], speed=1.0, max_chunk_s=0.5, prefill_s=0.2)
    pb.seek(2500)
    assert rb.start_sample == 2300 and rb.end_sample == 2500
    pb.play()
    now[0] = 3.0                             # 3 s late: only 0.5 s fed per tick
    assert pb.tick() == 500
    assert pb.position == 3000
    pb.pause()
    now[0] = 10.0
    assert pb.tick() == 0 and pb.position == 3000
    with pytest.raises(ValueError):
        RingBuffer(0)
