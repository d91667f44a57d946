"""Operator prompts and notes.

A prompt waits for the technician (auto-continue answers the default). With
``request: length_mm`` the answer is the new muscle length: set through the rig's
length control when it has one, and stored with the following trials."""
from __future__ import annotations

from protocols.engine.context import StepContext
from protocols.schema import NoteStep, PromptStep


def run(ctx: StepContext, step: PromptStep) -> None:
    value = ctx.ask(step.text, requested=step.request, default=step.default, prompt_id=step.id)
    ctx.result.update(answer=value)
    if step.request == "length_mm" and value is not None:
        ctx.set_length(float(value), source="operator")


def run_note(ctx: StepContext, step: NoteStep) -> None:
    ctx.log("note", step.text)
    ctx.result.update(text=step.text)
