"""The operator prompts of one run: which are open, their answers, what an answer must be.

The runner's worker opens prompts (blocking ``ask`` or non-blocking ``ask_nowait``) and
any thread answers them. The book shares the runner's condition variable, so an answer
wakes a worker waiting for it, and an abort wakes it too.
"""
from __future__ import annotations

import itertools
import math
import threading
from typing import Any

from protocols.events import OperatorPrompt


class PromptBook:
    """Open prompts and answers not yet taken. Thread-safe (under the runner's lock)."""

    def __init__(self, wake: threading.Condition) -> None:
        self._wake = wake
        self._open: dict[str, OperatorPrompt] = {}
        self._answers: dict[str, Any] = {}
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        return f"prompt-{next(self._ids)}"

    def open(self, prompt: OperatorPrompt) -> None:
        with self._wake:
            self._open[prompt.id] = prompt

    def open_prompts(self) -> list[OperatorPrompt]:
        with self._wake:
            return list(self._open.values())

    def answer(self, prompt_id: str, value: Any) -> tuple[OperatorPrompt, Any]:
        """Close an open prompt with ``value`` as understood; wakes the worker.

        Raises KeyError for a prompt that is not open and ValueError for an answer of the
        wrong kind (the prompt stays open)."""
        with self._wake:
            prompt = self._open.get(prompt_id)
            if prompt is None:
                raise KeyError(f"no open prompt {prompt_id!r}")
            value = coerce_answer(prompt, value)
            del self._open[prompt_id]
            self._answers[prompt_id] = value
            self._wake.notify_all()
        return prompt, value

    def take(self, prompt_id: str) -> tuple[bool, Any]:
        """``(True, answer)`` once answered (the answer is taken), else ``(False, None)``."""
        with self._wake:
            if prompt_id in self._answers:
                return True, self._answers.pop(prompt_id)
            return False, None

    def close(self, prompt_id: str) -> None:
        """The prompt is no longer open (answered or given up); a late answer is kept."""
        with self._wake:
            self._open.pop(prompt_id, None)

    def cancel(self, prompt_id: str) -> None:
        """Forget the prompt and any answer to it."""
        with self._wake:
            self._open.pop(prompt_id, None)
            self._answers.pop(prompt_id, None)

    def clear(self) -> None:
        with self._wake:
            self._open.clear()


def coerce_answer(prompt: OperatorPrompt, value: Any) -> Any:
    """Check an answer fits what the prompt asked for."""
    if prompt.requested == "length_mm":
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "done")):
            return None
        try:
            length = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"a length in mm is needed, got {value!r}") from None
        if not (math.isfinite(length) and 0 < length < 1000):
            raise ValueError(f"a length in mm between 0 and 1000 is needed, got {value!r}")
        return length
    if prompt.requested == "text":
        return "" if value is None else str(value)
    return value
