"""Fatigue: repeated trains with a duty cycle (one every ``interval_s``, start to start).

The post window of each train is shortened to fit before the next train, so the
schedule is kept; the fatigue index (last / first train force) is the step's result."""
from __future__ import annotations

import math

from protocols.engine.context import StepContext
from protocols.schema import FatigueStep


def run(ctx: StepContext, step: FatigueStep) -> None:
    n = step.train_count
    interval = step.train_interval_s
    post_ms = min(ctx.protocol.windows.tetanus_post_ms, max(50.0, 0.8 * step.rest_between_s * 1000.0))
    forces: list[float] = []
    for k in range(n):
        peak = ctx.deliver(ctx.train_spec(step.frequency_hz, step.duration_ms), post_ms=post_ms)
        forces.append(peak)
        ctx.progress(k + 1, n, f"train {k + 1}/{n}: {peak:.0f} mN")
        ctx.rest_until(ctx.last_fire_s + interval)    # start to start
    first, last = (forces[0], forces[-1]) if forces else (math.nan, math.nan)
    index = last / first if first and math.isfinite(first) and first > 0 else math.nan
    ctx.result.update(trains=n, forces_mN=forces, fatigue_index=index)
    ctx.log("fatigue", f"fatigue index (last/first) {index:.3f} over {n} trains",
            fatigue_index=index if math.isfinite(index) else None, trains=n)
