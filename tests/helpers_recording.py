"""Synthetic session files for tests, and a stand-alone producer for crash tests.

For other tests: :func:`write_synthetic_session` writes a real session file through
:class:`app.recorder.SessionRecorder` with twitches and a tetanus whose true shape is
known (each pulse adds ``A * (dt/tp) * exp(1 - dt/tp)``: peak ``A`` at ``tp`` after the
pulse), trial records, metadata and optional gaps, and returns what it wrote.

As a script (``python -m tests.helpers_recording produce FILE ...``) it records
deterministic blocks (:func:`ramp_force`, :func:`periodic_flags`) in real time and
prints ``progress produced=P written=W flushed=F trials=T`` lines, so a test can kill
it at any moment and know what the file must hold.
"""
from __future__ import annotations

import argparse
import math
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from app.metadata import SessionMetadata
from app.recorder import RecorderNotice, SessionRecorder, TrialRecord
from drivers.capabilities import FLAG_TRIGGER_EDGE, FLAG_TRIGGER_LEVEL, Calibration, SampleBlock

CALIBRATION = Calibration(scale_mN_per_count=0.05, offset_counts=12.0)
RIG = {"name": "test-rig", "isolator": {"gain_mA_per_V": 1.0}, "limits": {"max_current_mA": 10}}
DEVICES = {"stimulator": "Agilent Technologies,33521A,MY00000001,2.03",
           "amplifier": "MYOFORCE,SIM-AMP,0001,1.0"}
PROTOCOL_TEXT = "name: test\nsteps:\n  - twitch: {current_mA: 2.0}\n"
PROTOCOL = {"name": "test", "steps": [{"twitch": {"current_mA": 2.0}}]}


# ------------------------------------------------------------------ deterministic stream
def ramp_force(start: int, n: int) -> np.ndarray:
    """Force values that identify their own sample index (exact in float32)."""
    i = np.arange(start, start + n, dtype=np.int64)
    return (((i * 7919) % 10007).astype(np.float32) * np.float32(0.01))


def periodic_flags(start: int, n: int, period: int = 2500, offset: int = 100) -> np.ndarray:
    """A trigger edge at every ``i % period == offset``, level high for 10 samples."""
    i = np.arange(start, start + n, dtype=np.int64)
    phase = i % period
    fl = np.zeros(n, np.uint8)
    fl[(phase >= offset) & (phase < offset + 10)] |= FLAG_TRIGGER_LEVEL
    fl[phase == offset] |= FLAG_TRIGGER_EDGE
    return fl


def expected_pulses(end: int, period: int = 2500, offset: int = 100) -> np.ndarray:
    return np.arange(offset, end, period, dtype=np.int64)


def ramp_block(start: int, n: int, rate_hz: float) -> SampleBlock:
    return SampleBlock(start, ramp_force(start, n), periodic_flags(start, n), rate_hz,
                       time.time())


def ramp_blocks(total: int, block: int, rate_hz: float, skip: Iterable[tuple[int, int]] = ()
                ) -> Iterator[SampleBlock]:
    """Blocks covering ``[0, total)`` except the ``(start, count)`` runs in ``skip``
    (as an amplifier would deliver after losing those samples)."""
    holes = sorted(skip)
    pos = 0
    while pos < total:
        n = min(block, total - pos)
        for a, c in holes:
            if a <= pos < a + c:          # inside a hole: jump past it
                n = 0
                pos = a + c
                break
            if pos < a < pos + n:         # block would run into a hole: stop before it
                n = a - pos
        if n:
            yield ramp_block(pos, n, rate_hz)
            pos += n


def open_recorder(path: Path | str, rate_hz: float = 10_000.0, *,
                  metadata: SessionMetadata | None = None, protocol_text: str = PROTOCOL_TEXT,
                  protocol: dict | None = None, **kwargs) -> SessionRecorder:
    rec = SessionRecorder(path, **kwargs)
    rec.open(sample_rate_hz=rate_hz, calibration=CALIBRATION,
             metadata=metadata or SessionMetadata(subject_id="rat-7", muscle="EDL", side="left",
                                                  body_mass_g=312.5, group="vehicle",
                                                  operator="test"),
             rig=RIG, devices=DEVICES, protocol_text=protocol_text,
             protocol=PROTOCOL if protocol is None else protocol,
             software_version="0.1.0-test")
    return rec


# ------------------------------------------------------------------ physiological session
def twitch_sum(t: np.ndarray, pulse_t: Iterable[float], amplitude_mN: float,
               tp_s: float) -> np.ndarray:
    """Linear summation of twitches ``A (dt/tp) exp(1 - dt/tp)``."""
    out = np.zeros_like(t)
    for p in pulse_t:
        dt = t - p
        m = dt > 0
        out[m] += amplitude_mN * (dt[m] / tp_s) * np.exp(1 - dt[m] / tp_s)
    return out


@dataclass
class SyntheticSession:
    """What :func:`write_synthetic_session` wrote (the ground truth for tests)."""

    path: Path
    sample_rate_hz: float
    force_mN: np.ndarray              # as stored: NaN in the gaps
    flags: np.ndarray
    pulses: np.ndarray                # int64 sample indices
    trials: list[TrialRecord] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    amplitude_mN: float = 100.0
    tp_s: float = 0.015


def write_synthetic_session(path: Path | str, *, rate_hz: float = 10_000.0,
                            twitch_times_s: tuple[float, ...] = (0.2, 0.7),
                            tetanus_start_s: float | None = 1.2, tetanus_hz: float = 100.0,
                            tetanus_pulses: int = 20, tail_s: float = 0.6,
                            block: int = 100, gaps: Iterable[tuple[int, int]] = (),
                            amplitude_mN: float = 100.0, tp_s: float = 0.015,
                            with_trials: bool = True, overwrite: bool = False,
                            metadata: SessionMetadata | None = None,
                            protocol_text: str = PROTOCOL_TEXT, protocol: dict | None = None,
                            status: str = "complete") -> SyntheticSession:
    """Record a short session with twitches and one tetanus through the real recorder
    (``metadata``, ``protocol_text``/``protocol`` and the closing ``status`` as given)."""
    path = Path(path)
    stims: list[list[float]] = [[t] for t in twitch_times_s]
    if tetanus_start_s is not None:
        stims.append([tetanus_start_s + k / tetanus_hz for k in range(tetanus_pulses)])
    end_s = max(s[-1] for s in stims) + tail_s if stims else tail_s
    total = int(round(end_s * rate_hz))
    pulse_idx = np.array([int(round(t * rate_hz)) for s in stims for t in s], np.int64)
    t = np.arange(total) / rate_hz
    force = twitch_sum(t, pulse_idx / rate_hz, amplitude_mN, tp_s).astype(np.float32)
    flags = np.zeros(total, np.uint8)
    flags[pulse_idx] |= FLAG_TRIGGER_EDGE
    gaps = sorted(gaps)
    stored = force.copy()
    for a, c in gaps:
        stored[a:a + c] = np.nan
    rec = open_recorder(path, rate_hz, overwrite=overwrite, metadata=metadata,
                        protocol_text=protocol_text, protocol=protocol)
    try:
        holes = list(gaps)
        pos = 0
        while pos < total:
            n = min(block, total - pos)
            hole = next(((a, c) for a, c in holes if a <= pos < a + c), None)
            if hole:
                pos = hole[0] + hole[1]
                continue
            nxt = min((a for a, _ in holes if a > pos), default=total)
            n = min(n, nxt - pos)
            rec.put_block(SampleBlock(pos, force[pos:pos + n], flags[pos:pos + n], rate_hz))
            pos += n
        records = []
        if with_trials:
            pre, post = int(0.05 * rate_hz), int(0.3 * rate_hz)
            for i, s in enumerate(stims):
                first, last = int(round(s[0] * rate_hz)), int(round(s[-1] * rate_hz))
                tetanic = len(s) > 1
                r = TrialRecord(index=i, step="tetanus" if tetanic else "twitch",
                                kind="tetanus" if tetanic else "twitch",
                                start_sample=first - pre, stop_sample=min(total, last + post),
                                first_pulse_sample=first, pulses=len(s), current_mA=2.0,
                                pulse_width_ms=0.2,
                                frequency_hz=tetanus_hz if tetanic else math.nan,
                                length_mm=30.0)
                rec.add_trial(r)
                records.append(r)
        rec.log("operator", "synthetic session", note="written by tests.helpers_recording")
    finally:
        rec.close(status)
    keep = np.ones(pulse_idx.size, bool)
    for a, c in gaps:
        keep &= ~((pulse_idx >= a) & (pulse_idx < a + c))
    flags_stored = flags.copy()
    for a, c in gaps:
        flags_stored[a:a + c] = 0
    return SyntheticSession(path, rate_hz, stored, flags_stored, pulse_idx[keep], records,
                            list(gaps), amplitude_mN, tp_s)


# ------------------------------------------------------------------ crash-test producer
def _produce(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="helpers_recording produce")
    ap.add_argument("path")
    ap.add_argument("--rate", type=float, default=10_000.0)
    ap.add_argument("--block-ms", type=float, default=10.0)
    ap.add_argument("--flush", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fast", action="store_true", help="as fast as possible, not real time")
    ap.add_argument("--trial-every-s", type=float, default=0.25)
    ap.add_argument("--fsize-limit", type=int, default=0,
                    help="RLIMIT_FSIZE in bytes: writes past it fail with EFBIG")
    ap.add_argument("--min-free-bytes", type=int, default=64 << 20,
                    help="recorder's disk reserve; 0 disables its space check")
    args = ap.parse_args(argv)
    if args.fsize_limit:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # get EFBIG instead of dying
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.fsize_limit, args.fsize_limit))

    failed = []

    def on_notice(n: RecorderNotice) -> None:
        print(f"notice {n.kind} {n.message}", flush=True)
        if n.kind == "write-failed":
            failed.append(n)

    rate = args.rate
    block = max(1, int(round(args.block_ms * rate / 1000.0)))
    rec = open_recorder(args.path, rate, flush_interval_s=args.flush, on_notice=on_notice,
                        queue_size=100_000 if args.fast else 4096,
                        min_free_bytes=args.min_free_bytes)
    total = int(args.seconds * rate)
    t0 = time.monotonic()
    last_print = 0.0
    trial_every = int(args.trial_every_s * rate)
    pos = 0
    trials = 0
    while pos < total and not failed:
        if not args.fast:
            due = t0 + (pos + block) / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        rec.put_block(ramp_block(pos, block, rate))
        pos += block
        if trial_every and pos // trial_every > trials:
            start = trials * trial_every
            rec.add_trial(TrialRecord(index=trials, kind="twitch", start_sample=start,
                                      stop_sample=start + trial_every, pulses=1, step="crash"))
            trials += 1
        now = time.monotonic()
        if now - last_print >= 0.05:
            print(f"progress produced={pos} written={rec.samples_written} "
                  f"flushed={rec.samples_flushed} trials={trials}", flush=True)
            last_print = now
    rec.close()
    print(f"closed produced={pos} written={rec.samples_written} lost={rec.lost_samples} "
          f"failed={rec.failed is not None}", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "produce":
        sys.exit(_produce(sys.argv[2:]))
    print(__doc__)
