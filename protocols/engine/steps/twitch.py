"""Twitches: ``count`` single pulses at the working current, one every ``interval_s``."""
from __future__ import annotations

from protocols.engine.context import StepContext
from protocols.schema import TwitchStep


def run(ctx: StepContext, step: TwitchStep) -> None:
    forces = []
    for k in range(step.count):
        peak = ctx.deliver(ctx.twitch_spec())
        forces.append(peak)
        ctx.progress(k + 1, step.count, f"twitch {k + 1}/{step.count}: Pt {peak:.0f} mN")
        ctx.rest_until(ctx.last_fire_s + step.interval_s)  # start to start, also after the last
    ctx.result.update(twitch_forces_mN=forces)
