"""The in-memory view of a recording that analysis works on, whatever file it came from.

A myoforce HDF5 session, an Aurora DMC ``.ddf`` file and a CSV file all load into a
:class:`Recording`, so analysis, comparison and plotting never care about formats.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from app.recorder.exclusions import TrialExclusion

TrialKind = Literal["twitch", "tetanus"]


@dataclass
class Trial:
    """One contraction: a single pulse (twitch) or a train (tetanus) and the samples around it."""

    index: int
    kind: TrialKind
    start_sample: int                 # first sample of the trial window (recording index)
    stop_sample: int                  # one past the last sample of the window
    stim_samples: np.ndarray          # int64 recording indices of each pulse (from trigger edges)
    frequency_hz: float | None = None
    current_mA: float | None = None
    pulse_width_ms: float | None = None
    status: str = "completed"         # 'completed' or 'aborted'
    step: str = ""                    # protocol step name, when recorded by myoforce
    length_mm: float | None = None    # muscle length during the trial, when known

    @property
    def pulses(self) -> int:
        return int(len(self.stim_samples))

    @property
    def first_stim_sample(self) -> int:
        return int(self.stim_samples[0]) if len(self.stim_samples) else self.start_sample


@dataclass
class Recording:
    """A continuous force recording with its stimulus markers and trials.

    ``force_mN`` may be a numpy array or an array-like that slices lazily (an h5py
    dataset), so an hour-long file need not be loaded to analyse one trial.
    """

    source: str
    format: str                       # 'myoforce-h5', 'aurora-ddf', 'csv'
    sample_rate_hz: float
    force_mN: Any
    stim_samples: np.ndarray          # int64 indices of every stimulus pulse
    trials: list[Trial] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    complete: bool = True
    #: force at the ADC's negative and positive full scale (from the calibration stored in
    #: the file), when known: samples there are saturated (``app.analysis.checks``)
    force_limits_mN: tuple[float, float] | None = None
    #: auxiliary analog channels recorded beside force (DAQ rigs, format 1.1): name ->
    #: samples (same index and length as ``force_mN``; array or lazy dataset; from a 1.2
    #: session file a CRC-checked ``CheckedAux``, to be drawn via display_samples), and units
    aux: dict[str, Any] = field(default_factory=dict)
    aux_units: dict[str, str] = field(default_factory=dict)
    #: True when ``trials`` were grouped from the pulse markers (no trial table or
    #: protocol): the analysis may group them again with its own ``train_min_hz``
    trials_from_markers: bool = False
    #: trials a researcher excluded from the session's numbers, by trial index (a
    #: session file's 'trial-excluded' audit rows, ``app.recorder.exclusions``): measured,
    #: flagged 'excluded', left out of the session summary
    exclusions: dict[int, "TrialExclusion"] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return int(self.force_mN.shape[0])

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate_hz


def display_samples(force: Any, start: int, stop: int) -> np.ndarray:
    """Samples ``[start, stop)`` of a recording's force for drawing (float32).

    A checked session force (``app.recorder.checked_force.CheckedForce``) refuses damaged
    samples to analysis; a display shows them as a gap (NaN) instead, so a replay of a
    damaged file still draws everything intact and never draws damaged numbers."""
    masked = getattr(force, "masked", None)
    if masked is not None:
        return masked(start, stop)
    return np.asarray(force[start:stop], dtype=np.float32)


class DisplayForce:
    """A recording's force as an array-like for drawing code that slices it (overview
    pyramids): every slice goes through :func:`display_samples`."""

    def __init__(self, force: Any) -> None:
        self.force = force
        self.shape = (int(force.shape[0]),)
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, step = key.indices(self.shape[0])
        return display_samples(self.force, start, stop)[::step]


def train_frequency(stim_samples: np.ndarray, sample_rate_hz: float) -> float:
    """Pulse frequency of a train from its markers.

    Markers land on whole samples, so single intervals of e.g. a 275 Hz train at 10 kHz
    are 36 or 37 samples; the frequency comes from the first-to-last span divided by the
    number of periods it holds (each interval counted in median intervals, so a missing
    marker does not change the result).
    """
    g = np.asarray(stim_samples, dtype=np.int64)
    if g.size < 2:
        return float("nan")
    d = np.diff(g)
    med = float(np.median(d))
    if med <= 0:
        return float("nan")
    periods = int(np.maximum(1, np.round(d / med)).sum())
    return float(sample_rate_hz * periods / (g[-1] - g[0]))


#: relative tolerance of the pulse spacing inside one train (covers a clock off by
#: ±0.5 % between trains and markers on whole samples)
TRAIN_SPACING_TOLERANCE = 0.02
#: a stimulator clock may run this much slow (1 %, twice the ±0.5 % asked): a 1 Hz
#: train stays a train
CLOCK_TOLERANCE = 0.01
#: pulses further apart than this form a train only when at least three are regular
SLOW_TRAIN_INTERVAL_S = 0.1


def group_trains(stim_samples: np.ndarray, sample_rate_hz: float,
                 train_min_hz: float = 1.0) -> list[np.ndarray]:
    """Split pulse markers into trains by regular spacing (docs/analysis.md §1 Trials).

    Consecutive pulses belong to one train when their interval is at most one period of
    ``train_min_hz`` (+0.5 % for a slow clock) and within 2 % (+1 sample) of the train's
    first interval; anything else starts a new train. A clock off by ±0.5 % scales
    every interval alike, so it never splits a train; a lone pulse is a twitch. Two
    pulses more than 0.1 s apart are two twitches (a slower train needs three pulses).
    """
    stim = np.asarray(stim_samples, dtype=np.int64)
    if stim.size == 0:
        return []
    d = np.diff(stim)
    longest = sample_rate_hz / train_min_hz * (1.0 + CLOCK_TOLERANCE) + 1.0
    groups: list[np.ndarray] = []
    start, ref = 0, 0.0
    for i, di in enumerate(d.tolist()):          # per pulse, not per sample
        joined = di <= longest and (ref == 0.0 or
                                    abs(di - ref) <= TRAIN_SPACING_TOLERANCE * ref + 1.0)
        if joined:
            ref = ref or float(di)
            continue
        groups.append(stim[start:i + 1])
        start, ref = i + 1, 0.0
    groups.append(stim[start:])
    # two pulses more than 0.1 s apart are two twitches, not a train: a slow train needs
    # at least three regularly spaced pulses
    slow = SLOW_TRAIN_INTERVAL_S * sample_rate_hz
    out: list[np.ndarray] = []
    for g in groups:
        if g.size == 2 and g[1] - g[0] > slow:
            out += [g[:1], g[1:]]
        else:
            out.append(g)
    return out


def rising_edges(high: np.ndarray) -> np.ndarray:
    """Stimulus markers of a recorded stimulus level (True while high): the samples where it
    goes high, the first sample included when the recording starts high (int64)."""
    edges = np.flatnonzero(np.diff(high.astype(np.int8)) == 1) + 1
    if high[0]:
        edges = np.concatenate(([0], edges))
    return edges.astype(np.int64)


def trials_from_pulses(stim_samples: np.ndarray, sample_rate_hz: float, n_samples: int,
                       max_train_gap_s: float | None = None, pre_s: float = 0.05,
                       post_s: float = 0.5, train_min_hz: float = 1.0) -> list[Trial]:
    """Group pulse markers into trials, for recordings without a trial table.

    Trains by :func:`group_trains` (regular spacing from ``train_min_hz`` up), or, with
    ``max_train_gap_s``, pulses closer than that (a DDF protocol's own rate); a lone
    pulse is a twitch, a train a tetanus. Windows span ``pre_s`` before the first pulse
    to ``post_s`` after the last, clipped to the recording and to the next trial.
    """
    stim = np.asarray(stim_samples, dtype=np.int64)
    if stim.size == 0:
        return []
    if max_train_gap_s is None:
        groups = group_trains(stim, sample_rate_hz, train_min_hz)
    else:
        gap = int(round(max_train_gap_s * sample_rate_hz))
        groups = np.split(stim, np.flatnonzero(np.diff(stim) > gap) + 1)
    trials: list[Trial] = []
    pre, post = int(round(pre_s * sample_rate_hz)), int(round(post_s * sample_rate_hz))
    for i, g in enumerate(groups):
        start = max(0, int(g[0]) - pre)
        stop = min(n_samples, int(g[-1]) + post)
        if i + 1 < len(groups):         # leave the next trial its pre-stimulus window
            stop = min(stop, max(int(groups[i + 1][0]) - pre, int(g[-1]) + 1))
        freq = train_frequency(g, sample_rate_hz) if g.size > 1 else None
        trials.append(Trial(index=i, kind="twitch" if g.size == 1 else "tetanus",
                            start_sample=start, stop_sample=stop, stim_samples=g,
                            frequency_hz=freq))
    return trials
