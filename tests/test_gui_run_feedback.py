"""What the acquire page shows of a running protocol (app.gui.run_feedback), driven through
the page's own dispatch (AcquirePage.on_event) as the runner's events arrive: step and
progress under Run, pause state, prompts, and warnings in the log and the status bar."""
from __future__ import annotations

import pytest

from protocols import events as rev

pytestmark = pytest.mark.gui


@pytest.fixture
def page(qtbot):
    from app.gui.acquire_page import AcquirePage
    p = AcquirePage()
    qtbot.addWidget(p)
    yield p
    p.shutdown()


def test_steps_and_progress_reach_the_run_controls(page):
    page.on_event(rev.StepStarted(index=1, count=4, name="tetani", kind="tetanus", note="rest 2 min"))
    assert page.run_controls.step_label.text() == "Step 2/4: tetani (tetanus)\nrest 2 min"
    assert page.run_controls.progress.value() == 250
    page.on_event(rev.Progress(step_index=1, step_count=4, step="tetani", done=1, total=2))
    assert page.run_controls.progress.value() == 375
    assert page.run_controls.progress.format() == "step 2/4 tetani: 1/2"
    page.on_event(rev.StateChanged(old=rev.RunnerState("running"), new=rev.RunnerState("paused")))
    assert page.run_controls.pause_button.isChecked()


def test_a_prompt_is_shown_until_answered_and_both_are_logged(page):
    page.run_controls.auto_continue.setChecked(False)
    page.on_event(rev.OperatorPrompt(id="len", text="Set the optimal length"))
    assert page.prompt_panel.prompt_id == "len"
    page.on_event(rev.PromptAnswered(id="len", value=None))
    assert page.prompt_panel.prompt_id is None
    assert page.log.lines[-2].endswith("prompt: Set the optimal length")
    assert page.log.lines[-1].endswith("answered len: None")


def test_warnings_and_errors_reach_the_status_bar_and_the_log(page):
    said: list[str] = []
    page.message.connect(said.append)
    page.on_event(rev.RunWarning(message="force near full scale"))
    page.on_event(rev.RunError(message="amplifier gone"))
    assert said == ["Warning: force near full scale", "Error: amplifier gone"]
    assert page.log.lines[-2].endswith("force near full scale")
    assert page.log.lines[-1].endswith("✖ amplifier gone")
