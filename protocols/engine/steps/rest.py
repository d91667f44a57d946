"""Rest: wait, with abort and pause responding at once."""
from __future__ import annotations

from protocols.engine.context import StepContext
from protocols.schema import RestStep


def run(ctx: StepContext, step: RestStep) -> None:
    ctx.progress(0, 1)
    ctx.rest(step.duration_s)
    ctx.progress(1, 1, "rest over")
