"""Tetani: ``count`` trains at ``frequency_hz`` for ``duration_ms``, each followed by ``rest_s``."""
from __future__ import annotations

from protocols.engine.context import StepContext
from protocols.schema import TetanusStep


def run(ctx: StepContext, step: TetanusStep) -> None:
    forces = []
    for k in range(step.count):
        peak = ctx.deliver(ctx.train_spec(step.frequency_hz, step.duration_ms))
        forces.append(peak)
        ctx.progress(k + 1, step.count,
                     f"tetanus {k + 1}/{step.count} {step.frequency_hz:g} Hz: Po {peak:.0f} mN")
        ctx.rest(step.rest_s, f"rest {step.rest_s:g} s after the tetanus")
    ctx.result.update(tetanic_forces_mN=forces)
