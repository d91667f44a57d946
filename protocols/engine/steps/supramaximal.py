"""Supramaximal search: single pulses at rising current until the twitch force plateaus.

Each current gets one twitch, ``interval_s`` apart (start to start). The search stops
when ``plateau_steps`` consecutive current steps each change the force by less than
``plateau_tolerance`` of the larger force, all forces above ``min_force_mN`` (so a flat
run of sub-threshold twitches is never taken for a plateau). The plateau force is the
largest twitch of that run, and the plateau current the lowest current whose twitch
reached ``plateau_fraction`` of it: the lowest current that recruits (practically)
every motor axon. Taking the largest twitch as the level errs towards a higher current,
the safe side for a supramaximal stimulus. The working current, used by every later step
that does not give its own, is ``factor`` times the plateau current, capped by the rig
limits. The recruitment curve and the chosen currents are the step's result and go
into the recording's audit log and analysis table.

A twitch whose peak the analysis doubts (a flag concerning the peak force, e.g.
``baseline-drift`` on the previous twitch's tail, or a refusal for signal quality whose
number is only the simple estimate, e.g. of an artefact) is left out of the decision:
the plateau is looked for on the clean twitches only (a warning names each one left
out). Only when the clean twitches never reach a plateau and never reach
``min_force_mN`` is the decision taken on every twitch; the result then says so
(``decided_on_flagged``) and a warning gives the reasons.
"""
from __future__ import annotations

import math
import time

from protocols.engine.context import StepContext
from protocols.schema import SupramaximalStep


def find_plateau(curve: list[tuple[float, float]], *, tolerance: float, steps: int,
                 min_force_mN: float, fraction: float = 0.995) -> float | None:
    """The plateau current of a recruitment curve so far, or None if not reached yet."""
    if len(curve) < steps + 1:
        return None
    run = curve[-(steps + 1):]
    forces = [f for _, f in run]
    if not all(math.isfinite(f) and f >= min_force_mN for f in forces):
        return None
    for a, b in zip(forces, forces[1:]):
        if abs(b - a) > tolerance * max(a, b):
            return None
    level = max(forces)
    return min(c for c, f in curve if math.isfinite(f) and f >= fraction * level)


def run(ctx: StepContext, step: SupramaximalStep) -> None:
    pw = ctx.pulse_width_ms()
    currents = step.currents_mA()
    curve: list[tuple[float, float]] = []          # every twitch delivered
    clean: list[tuple[float, float]] = []          # those whose peak is not in doubt
    doubts: list[str] = []                         # per twitch, '' when clean
    plateau: float | None = None
    for k, current in enumerate(currents):
        started = time.monotonic()
        got = ctx.deliver_measured(ctx.twitch_spec(current))
        force = got.peak_mN if math.isfinite(got.peak_mN) else 0.0
        curve.append((current, force))
        doubts.append(got.doubt or "")
        if got.doubt:
            ctx.warn(f"{current:g} mA (trial {got.trial_index}): twitch peak left out of the "
                     f"supramaximal decision: {got.doubt}")
        else:
            clean.append((current, force))
        ctx.progress(k + 1, None, f"{current:g} mA: Pt {force:.0f} mN"
                     + (" (flagged)" if got.doubt else ""))
        plateau = find_plateau(clean, tolerance=step.plateau_tolerance, steps=step.plateau_steps,
                               min_force_mN=step.min_force_mN, fraction=step.plateau_fraction)
        ctx.rest_until(started + step.interval_s)
        if plateau is not None:
            break
    found = plateau is not None
    decided = clean
    on_flagged = False
    if not found and not any(f >= step.min_force_mN for _, f in clean) and len(clean) < len(curve):
        # no usable clean twitch at all: decide on every twitch, and say so
        decided, on_flagged = curve, True
        plateau = find_plateau(curve, tolerance=step.plateau_tolerance, steps=step.plateau_steps,
                               min_force_mN=step.min_force_mN, fraction=step.plateau_fraction)
        found = plateau is not None
        reasons = sorted({d for d in doubts if d})
        ctx.warn("no clean twitch reached a plateau or min_force_mN; the supramaximal "
                 "current is decided on flagged twitches: " + " | ".join(reasons))
    if not found:
        best = max(decided or curve, key=lambda p: p[1])
        plateau = best[0]
        ctx.warn(f"no plateau of the twitch force up to {currents[-1]:g} mA; using "
                 f"{plateau:g} mA (largest twitch, {best[1]:.0f} mN) as the plateau current")
    wanted = step.factor * plateau
    working = ctx.cap_current(wanted)
    if working < wanted:
        ctx.warn(f"working current {wanted:g} mA capped to {working:g} mA by the rig limits")
    ctx.set_working_current(working)
    result = dict(recruitment_currents_mA=[c for c, _ in curve],
                  recruitment_forces_mN=[round(f, 3) for _, f in curve],
                  recruitment_flags=doubts, decided_on_flagged=on_flagged,
                  plateau_found=found, plateau_current_mA=plateau,
                  plateau_force_mN=round(max(f for _, f in (decided or curve)), 3),
                  factor=step.factor, working_current_mA=working, pulse_width_ms=pw)
    ctx.result.update(result)
    ctx.log("supramaximal",
            f"plateau at {plateau:g} mA; working current {working:g} mA ({step.factor:g} x)"
            + (" (decided on flagged twitches)" if on_flagged else ""),
            **result)
