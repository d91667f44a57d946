"""Optimal length (Lo): the length at which the twitch force is largest.

Operator-guided (the default): the muscle twitches only when the technician asks.
Each length they enter (the configured lengths are offered as suggestions; Enter takes
the suggestion, entering the same length again twitches again) is applied through the
rig's length control if there is one, then ``twitches_per_length`` twitches are
delivered there, at least ``interval_s`` apart (start to start, counted across lengths:
the protocol's minimum interval between twitches). While the prompt waits, nothing is
stimulated: a length search must not become a fatigue protocol (a continuous twitch
every 0.4 s held one aborted session at 196 twitches). Answering "done" ends the
search. With auto-continue the runner steps through the configured lengths itself with
the rig's length control, at ``interval_s`` (a rig without one skips the step with a
warning).

Lo is the length of the largest mean twitch, or, with ``fit: parabola``, the vertex of
a parabola through the maximum and its neighbours when that vertex lies between them.
The technician confirms (or corrects) Lo; the muscle is then set to Lo, and Lo is
recorded as the session's ``muscle_length_mm`` (a metadata revision in the audit log,
``app.recorder.revisions``), so specific force needs no further input but the mass.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from protocols.engine.context import StepContext
from protocols.schema import OptimalLengthStep


def suggest_lo(lengths_mm: list[float], forces_mN: list[float], fit: str = "parabola") -> float:
    """Lo from a force-length curve: the maximum, or a parabola's vertex around it."""
    pts = sorted((l, f) for l, f in zip(lengths_mm, forces_mN) if math.isfinite(f))
    if not pts:
        raise ValueError("no twitch force measured")
    xs = np.array([p[0] for p in pts])
    ys = np.array([p[1] for p in pts])
    k = int(np.argmax(ys))
    best = float(xs[k])
    if fit != "parabola" or k == 0 or k == len(xs) - 1:
        return best
    lo, hi = max(0, k - 2), min(len(xs), k + 3)
    a, b, _ = np.polyfit(xs[lo:hi], ys[lo:hi], 2)
    if not a < 0:
        return best
    vertex = float(-b / (2 * a))
    return vertex if xs[k - 1] <= vertex <= xs[k + 1] else best


def _curve(forces: dict[float, list[float]]) -> tuple[list[float], list[float]]:
    lengths = sorted(forces)
    return lengths, [float(np.mean(forces[l])) for l in lengths]


def run(ctx: StepContext, step: OptimalLengthStep) -> None:
    planned = step.planned_lengths_mm()
    forces: dict[float, list[float]] = {}
    if ctx.auto_continue:
        if ctx.length_control is None:
            ctx.warn("auto-continue needs a rig with length control to find Lo; the muscle "
                     "length was not changed and this step was skipped")
            ctx.result.update(skipped=True)
            return
        _automatic(ctx, step, planned, forces)
    else:
        _guided(ctx, step, planned, forces)
    lengths, means = _curve(forces)
    if not lengths:
        ctx.warn("no twitch at a known length; Lo not determined, length unchanged")
        ctx.result.update(skipped=True)
        return
    suggested = round(suggest_lo(lengths, means, step.fit), 2)
    lo = ctx.ask(f"Optimal length: Lo = {suggested:g} mm suggested ({step.fit}). Confirm or "
                 f"enter Lo in mm.", requested="length_mm", default=suggested)
    lo = suggested if lo is None else float(lo)
    ctx.set_length(lo, source="Lo")
    result = dict(lengths_mm=lengths, forces_mN=[round(f, 3) for f in means],
                  suggested_lo_mm=suggested, lo_mm=lo, fit=step.fit)
    ctx.result.update(result)
    ctx.log("optimal-length", f"Lo {lo:g} mm (suggested {suggested:g} mm)", **result)
    # Lo becomes the session's muscle length (specific force), as a metadata revision
    ctx.log("metadata-revision", f"muscle_length_mm = {lo:g} (Lo from the optimal-length step)",
            changes={"muscle_length_mm": lo}, source="optimal-length step")


def _twitch_at(ctx: StepContext, step: OptimalLengthStep, forces: dict[float, list[float]],
               *, rest: bool = True) -> float:
    peak = ctx.deliver(ctx.twitch_spec())
    if ctx.length_mm is not None and math.isfinite(peak):
        forces.setdefault(ctx.length_mm, []).append(peak)
    if rest:
        ctx.rest_until(ctx.last_fire_s + step.interval_s)     # start to start
    return peak


def _automatic(ctx, step, planned, forces) -> None:
    n = len(planned)
    for k, length in enumerate(planned):
        ctx.set_length(length, source="auto")
        for _ in range(step.twitches_per_length):
            force = _twitch_at(ctx, step, forces)
        ctx.progress(k + 1, n, f"{length:g} mm: Pt {force:.0f} mN")


def _wait_for_answer(ctx: StepContext, pid: str, poll_s: float = 0.05) -> Any:
    """The answer to ``pid``; no stimulation meanwhile (pause and abort respond at once)."""
    while True:
        answered, value = ctx.poll_answer(pid)
        if answered:
            return value
        ctx.rest_until(time.monotonic() + poll_s)


def _guided(ctx, step, planned, forces) -> None:
    suggestions = iter(planned)
    next_twitch = time.monotonic()          # start of the earliest allowed next twitch
    twitches = 0
    while True:
        nxt = next(suggestions, None)
        hint = f" (suggested: {nxt:g} mm)" if nxt is not None else ""
        pid = ctx.ask_nowait(f"Set the muscle length and enter it to twitch there{hint}; "
                             f"Done ends the search.", requested="length_mm", default=nxt)
        try:
            value = _wait_for_answer(ctx, pid)
        finally:
            ctx.cancel_prompt(pid)
        if value is None:
            return
        ctx.set_length(float(value), source="operator")
        for _ in range(step.twitches_per_length):
            ctx.rest_until(next_twitch)
            force = _twitch_at(ctx, step, forces, rest=False)
            next_twitch = ctx.last_fire_s + step.interval_s
            twitches += 1
        ctx.progress(len(forces), len(planned), f"{ctx.length_mm:g} mm: Pt {force:.0f} mN "
                                                f"({twitches} twitches)")
