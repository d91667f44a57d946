"""Replaying a recorded session through the live view, at 1x to 50x speed.

:class:`Playback` feeds a :class:`~app.recording.Recording`'s continuous force into a
:class:`~app.live.ring_buffer.RingBuffer` as if an amplifier were streaming it: the
stimulus markers come back as trigger-edge flags at their samples, the trials and
protocol steps (:mod:`app.live.protocol_marks`) and the operator's comments as markers.
It is driven by a clock (``time.monotonic`` by default, anything callable in tests) and
by whoever calls :meth:`tick` — the GUI's redraw timer, or the small thread of
:meth:`run_in_thread`. Qt-free.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Callable, Iterable

import numpy as np

from app.live.protocol_marks import STEP, all_marks, from_trials
from app.live.ring_buffer import RingBuffer
from app.recording import Recording, display_samples
from drivers.capabilities import FLAG_TRIGGER_EDGE

MIN_SPEED = 1.0
MAX_SPEED = 50.0


class Playback:
    """Feeds ``recording`` into ``ring`` at ``speed`` times real time."""

    def __init__(self, recording: Recording, ring: RingBuffer, *,
                 clock: Callable[[], float] = time.monotonic, speed: float = 1.0,
                 max_chunk_s: float = 0.5, prefill_s: float = 0.0,
                 comments: Iterable[tuple[int, str]] = (),
                 step_starts: Iterable[tuple[int, str]] = ()) -> None:
        self.recording = recording
        self.ring = ring
        self._clock = clock
        self._rate = float(recording.sample_rate_hz)
        self._n = recording.samples
        self._stim = np.sort(np.asarray(recording.stim_samples, dtype=np.int64))
        # trial marks, and step marks where each step began (``step_starts``, the file's
        # step-started entries; without them, at a step's first trial): as they were live
        self._protocol_marks = all_marks(from_trials(recording.trials), step_starts)
        self._comments = sorted((int(s), str(text)) for s, text in comments)
        self._max_chunk_s = float(max_chunk_s)
        self._prefill = max(0, int(prefill_s * self._rate))
        self._lock = threading.RLock()
        self._speed = self._clamp(speed)
        self._pos = 0
        self._playing = False
        self._anchor_t = 0.0
        self._anchor_pos = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.seek(0)

    @staticmethod
    def _clamp(speed: float) -> float:
        return float(min(MAX_SPEED, max(MIN_SPEED, speed)))

    # --- state ---
    @property
    def position(self) -> int:
        """Next sample to be fed (absolute recording index)."""
        return self._pos

    @property
    def position_s(self) -> float:
        return self._pos / self._rate

    @property
    def duration_s(self) -> float:
        return self._n / self._rate

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def finished(self) -> bool:
        return self._pos >= self._n

    @property
    def step_marks(self) -> list[tuple[int, str]]:
        """``(sample, step name)`` of every step mark the playback puts on the trace, in
        sample order: the same list for the replay overview, so both show the same steps."""
        return [(s, name) for s, name, kind in self._protocol_marks if kind == STEP]

    # --- control ---
    def play(self) -> None:
        with self._lock:
            if self.finished:
                self.seek(0)
            self._playing = True
            self._anchor_t, self._anchor_pos = self._clock(), self._pos

    def pause(self) -> None:
        with self._lock:
            self.tick()
            self._playing = False

    def set_speed(self, speed: float) -> None:
        with self._lock:
            if self._playing:
                self.tick()
                self._anchor_t, self._anchor_pos = self._clock(), self._pos
            self._speed = self._clamp(speed)

    def set_comments(self, comments: Iterable[tuple[int, str]]) -> None:
        """The file's comments changed (one added afterwards in replay): play these from
        now on; one added behind the position is put on the trace already fed, so it
        shows without a seek."""
        new = sorted((int(s), str(text)) for s, text in comments)
        with self._lock:
            added = (Counter(new) - Counter(self._comments)).elements()   # twins count
            self._comments = new
            for s, text in added:
                if s < self._pos:
                    self.ring.add_marker(text, s, kind="comment")

    def seek(self, sample: int) -> None:
        """Jump to ``sample``; the ring restarts there (with ``prefill_s`` of history)."""
        with self._lock:
            sample = int(min(max(0, sample), self._n))
            first = max(0, sample - self._prefill)
            self.ring.reset(self._rate, first_sample=first)
            self._pos = first
            if sample > first:
                self._feed(sample)
            self._anchor_t, self._anchor_pos = self._clock(), self._pos

    def tick(self) -> int:
        """Feed everything due by now; returns the number of samples written.

        At most ``max_chunk_s`` of wall time (times the speed) per call: if the caller falls behind,
        playback slows down rather than stalling the caller.
        """
        with self._lock:
            if not self._playing:
                return 0
            now = self._clock()
            target = self._anchor_pos + int((now - self._anchor_t) * self._speed * self._rate)
            target = min(target, self._n)
            max_chunk = max(1, int(self._max_chunk_s * self._speed * self._rate))
            if target - self._pos > max_chunk:
                target = self._pos + max_chunk
                written = self._feed(target)
                self._anchor_t, self._anchor_pos = now, self._pos
            else:
                written = self._feed(target)
            if self.finished:
                self._playing = False
            return written

    def _feed(self, target: int) -> int:
        start = self._pos
        if target <= start:
            return 0
        force = display_samples(self.recording.force_mN, start, target)  # damaged: NaN
        flags = np.zeros(target - start, dtype=np.uint8)
        lo, hi = np.searchsorted(self._stim, [start, target])
        flags[self._stim[lo:hi] - start] |= FLAG_TRIGGER_EDGE
        self.ring.write(start, force, flags)
        for s, label, kind in self._protocol_marks:
            if start <= s < target:
                self.ring.add_marker(label, s, kind=kind)
        for s, text in self._comments:
            if start <= s < target:
                self.ring.add_marker(text, s, kind="comment")
        self._pos = target
        return target - start

    # --- optional own thread ---
    def run_in_thread(self, interval_s: float = 0.01) -> None:
        """Tick from a daemon thread every ``interval_s`` until :meth:`stop_thread`."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.tick()

        self._thread = threading.Thread(target=loop, name="myoforce-playback", daemon=True)
        self._thread.start()

    def stop_thread(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2.0)
            self._thread = None
