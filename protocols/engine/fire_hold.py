"""Waiting for the rig's rules over time before a stimulus, instead of being refused.

The stimulator remembers its fires between runs (its fire-time interlock,
``drivers.fire_ledger``), so a run started right after a train, e.g. by an operator who
aborted mid-tetanus and restarted at once, would have its first stimulus refused on the
rest rule. Before configuring each stimulus the runner asks the stimulator how long
until that fire would be allowed (``fire_ledger.fire_delay``, answered by the
interlock's own rule functions) and waits out a short hold; the refusal at fire time
stays as the last line of defence. docs/protocols.md, "Waiting for the rig's rules".
"""
from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from drivers.capabilities import StimulusSpec
from drivers.fire_ledger import TOLERANCE_S
from drivers.limits import StimulusLimits
from protocols.engine.interrupts import RunFailed
from protocols.engine.trial import describe
from protocols.events import FireHeld

if TYPE_CHECKING:
    from protocols.engine.context import StepHost

log = logging.getLogger(__name__)

#: how often a hold asks again (s): the wait ends within this of the rules allowing
#: the fire (an abort or pause ends it at once)
ASK_EVERY_S = 0.25


def longest_rest_s(limits: StimulusLimits) -> float:
    """The longest hold the runner waits out: what the rest rule can ask (the rig's
    longest train and its minimum rest after it, or the single-pulse interval) plus the
    interlock's tolerance."""
    return TOLERANCE_S + max(limits.max_train_duration_ms / 1000.0
                             + limits.min_rest_after_tetanus_s, limits.min_pulse_interval_s)


def hold_fire(host: "StepHost", spec: StimulusSpec, *, step_index: int | None) -> None:
    """Wait until the stimulator's interlock would take ``spec``, when that is at most
    :func:`longest_rest_s`: said once (:class:`FireHeld`, and the audit log), abort and
    pause acting at once during it (``host.sleep_until``).

    A longer hold (the rate or duty-cycle rule after stimulation outside the run) is not
    waited out: :class:`RunFailed`, nothing fired, one line naming the rule that holds
    longest and for how long (the interlock's own refusal names the first rule broken,
    which may clear much sooner). A stimulator without a ledger is simply fired."""
    ledger = getattr(host.stimulator, "fire_ledger", None)
    if ledger is None:
        return
    bound = longest_rest_s(host.limits)
    said = False
    while True:
        host.checkpoint()
        try:
            delay = ledger.fire_delay(spec)
        except Exception:  # a question, not the safety net: the fire is still checked
            log.exception("asking the stimulator for its fire delay failed")
            return
        if delay.wait_s <= 0.0 or delay.wait_s == math.inf:
            return                          # (a never is the interlock's to refuse)
        if delay.wait_s > bound:
            raise RunFailed(f"the rig's rules over time hold {describe(spec)} for another "
                            f"{delay.wait_s:.3g} s, longer than a rest: "
                            f"{delay.problems[0].message}; nothing was fired")
        if not said:
            said = True
            message = f"waiting {delay.wait_s:.2g} s: {held_by(delay.rule, host.limits)}"
            host.emit(FireHeld(wait_s=delay.wait_s, rule=delay.rule or "", message=message,
                               step_index=step_index))
            host.audit("fire-held", message, rule=delay.rule or "", wait_s=delay.wait_s)
        host.sleep_until(time.monotonic() + min(delay.wait_s, ASK_EVERY_S))


def held_by(rule: str | None, limits: StimulusLimits) -> str:
    """The rule holding a fire, in the operator's words."""
    window = f"{limits.rate_window_s:g} s"
    return {"rest_s": "the rig's rest rule after the previous train",
            "interval_s": "the rig's minimum interval after the previous pulse",
            "rate": f"the rig's mean pulse-rate rule over {window}",
            "duty_cycle": f"the rig's duty-cycle rule over {window}"}.get(
                rule or "", "the rig's rules over time")
