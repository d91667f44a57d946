"""Switching the stimulator off on the way out (abort, close) and confirming it with ``OUTP?``.

Both abort and close send their off commands best-effort (a command that fails does not
stop the next one; a device that is gone stops them all), then ask ``OUTP?`` briefly.
These are the procedures, free of the driver's locks and state: the caller passes the
functions that put a message on the wire (with its audit hook and its bookkeeping of
whether the stimulator answers) and stores what comes back. The driver decides *when*
(which lock, urgent path or not); docs/wire-protocols.md section 1.2 gives the sequences.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from drivers.errors import DeviceDisconnected, DeviceTimeout
from drivers.stimulator import scpi

log = logging.getLogger(__name__)

#: the longest an ``OUTP?`` confirmation waits on a stimulator that is answering (s)
CONFIRM_MAX_S = 1.0


def send_off_commands(send: Callable[[str], None], commands: Iterable[str], during: str) -> bool:
    """Send each of ``commands``, whatever became of the one before; never raises.

    Returns False if the stimulator is gone (:class:`DeviceDisconnected`): the rest are
    not sent and there is nothing left to confirm."""
    for command in commands:
        try:
            send(command)
        except DeviceDisconnected as exc:
            log.error("%s: the stimulator is gone: %s", during, exc)
            return False
        except Exception as exc:
            log.error("%s: %s failed: %s", during, command, exc)
    return True


def confirm_timeout(timeout_s: float, *, unresponsive: bool, last_confirmed: bool | None,
                    unresponsive_timeout_s: float) -> float | None:
    """How long the ``OUTP?`` confirmation may wait, or None: do not ask.

    A stimulator that is answering gets ``timeout_s``, at most :data:`CONFIRM_MAX_S`; one
    that has just failed to answer is asked once, for ``unresponsive_timeout_s``, and after
    that not asked again, so a dead device cannot hold up the end of a run."""
    if unresponsive and last_confirmed is False:
        return None
    return unresponsive_timeout_s if unresponsive else min(timeout_s, CONFIRM_MAX_S)


def confirm_off(ask: Callable[[str, float], str], send: Callable[[str], None], *,
                during: str, timeout_s: float | None,
                on_timeout: Callable[[], None] = lambda: None) -> bool:
    """Ask ``OUTP?`` (``timeout_s`` from :func:`confirm_timeout`; None: do not ask) and
    return whether the output is confirmed off. Never raises.

    Logs loudly, and sends ``OUTP OFF`` again, if the output is still reported on; an
    unanswered or garbled reply is logged and counts as not confirmed. ``on_timeout`` is
    called first when the stimulator did not answer in time (the query or the resend)."""
    if timeout_s is None:
        log.info("%s: OUTP OFF sent; not confirmed (the stimulator does not answer)", during)
        return False
    try:
        if scpi.parse_bool(ask(scpi.OUTPUT_QUERY, timeout_s), scpi.OUTPUT_QUERY):
            log.error("%s: output still reported ON; sending OUTP OFF again", during)
            send(scpi.OUTPUT_OFF)
            return False
        return True
    except Exception as exc:
        if isinstance(exc, DeviceTimeout):
            on_timeout()
        log.warning("%s: OUTP OFF sent but not confirmed: %s", during, exc)
        return False
