"""Force-frequency: one train per frequency, in the order given, each followed by ``rest_s``.

The curve (frequency, peak force) is the step's result and goes into the audit log."""
from __future__ import annotations

from protocols.engine.context import StepContext
from protocols.schema import ForceFrequencyStep


def run(ctx: StepContext, step: ForceFrequencyStep) -> None:
    curve: list[tuple[float, float]] = []
    n = len(step.frequencies_hz)
    for k, frequency in enumerate(step.frequencies_hz):
        peak = ctx.deliver(ctx.train_spec(frequency, step.duration_ms))
        curve.append((frequency, peak))
        ctx.progress(k + 1, n, f"{frequency:g} Hz: {peak:.0f} mN")
        ctx.rest(step.rest_s, f"rest {step.rest_s:g} s")
    ctx.result.update(frequencies_hz=[f for f, _ in curve], forces_mN=[p for _, p in curve])
    ctx.log("force-frequency", "force-frequency curve", frequencies_hz=[f for f, _ in curve],
            forces_mN=[round(p, 3) for _, p in curve])
