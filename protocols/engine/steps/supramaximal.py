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

A twitch whose peak the analysis doubts is treated by what the doubt is. A refusal for
signal quality (``artefact-peak``, ``clipped``...) leaves the step only the simple peak
estimate (e.g. of an artefact), not a measurement: that twitch is left out of the
decision. A kept flag concerning the peak force (``baseline-drift``, e.g. a twitch on
the previous one's slow tail, corrected by extrapolation) keeps the twitch in the
decision, but when a flagged twitch is among those that decided (the plateau run, the
twitch giving the plateau current, or the largest twitch without a plateau) the result
says so (``decided_on_flagged``, ``decision_flags``) and a warning gives the reasons.
Leaving such twitches out instead made a slow muscle's search (soleus at 0.3 s
intervals: most twitches on the previous tail) run on to twice the plateau current.
"""
from __future__ import annotations

import math

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
    usable: list[tuple[float, float]] = []         # those that were measured (not refused)
    doubts: list[str] = []                         # per twitch, '' when clean
    doubt_at: dict[float, str] = {}
    plateau: float | None = None
    for k, current in enumerate(currents):
        got = ctx.deliver_measured(ctx.twitch_spec(current))
        force = got.peak_mN if math.isfinite(got.peak_mN) else 0.0
        curve.append((current, force))
        doubts.append(got.doubt or "")
        if got.doubt and got.doubt.startswith("refused"):
            ctx.warn(f"{current:g} mA (trial {got.trial_index}): left out of the supramaximal "
                     f"decision: {got.doubt}")
        else:
            usable.append((current, force))
            if got.doubt:
                doubt_at[current] = got.doubt
        ctx.progress(k + 1, None, f"{current:g} mA: Pt {force:.0f} mN"
                     + (" (flagged)" if got.doubt else ""))
        plateau = find_plateau(usable, tolerance=step.plateau_tolerance, steps=step.plateau_steps,
                               min_force_mN=step.min_force_mN, fraction=step.plateau_fraction)
        ctx.rest_until(ctx.last_fire_s + step.interval_s)
        if plateau is not None:
            break
    found = plateau is not None
    if found:
        deciding = [c for c, _ in usable[-(step.plateau_steps + 1):]] + [plateau]
    else:
        best = max(usable or curve, key=lambda p: p[1])
        plateau = best[0]
        deciding = [plateau]
        ctx.warn(f"no plateau of the twitch force up to {currents[-1]:g} mA; using "
                 f"{plateau:g} mA (largest twitch, {best[1]:.0f} mN) as the plateau current")
    decision_flags = sorted({f"{c:g} mA: {doubt_at[c]}" for c in deciding if c in doubt_at})
    if not usable:
        decision_flags = ["every twitch was refused by the analysis; the simple peak "
                          "estimates decided"]
    if decision_flags:
        ctx.warn("the supramaximal current was decided on flagged twitch peaks: "
                 + " | ".join(decision_flags))
    wanted = step.factor * plateau
    working = ctx.cap_current(wanted)
    if working < wanted:
        ctx.warn(f"working current {wanted:g} mA capped to {working:g} mA by the rig limits")
    ctx.set_working_current(working)
    result = dict(recruitment_currents_mA=[c for c, _ in curve],
                  recruitment_forces_mN=[round(f, 3) for _, f in curve],
                  recruitment_flags=doubts, decided_on_flagged=bool(decision_flags),
                  decision_flags=decision_flags,
                  plateau_found=found, plateau_current_mA=plateau,
                  plateau_force_mN=round(max(f for _, f in (usable or curve)), 3),
                  factor=step.factor, working_current_mA=working, pulse_width_ms=pw)
    ctx.result.update(result)
    ctx.log("supramaximal",
            f"plateau at {plateau:g} mA; working current {working:g} mA ({step.factor:g} x)"
            + (" (decided on flagged twitch peaks)" if decision_flags else ""),
            **result)
