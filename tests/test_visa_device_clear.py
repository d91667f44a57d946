"""After a timeout on a USB-TMC/GPIB/serial VISA session (no socket to reopen) the
transport sends a device clear, so the late reply can never answer a later query, and it
does so before the next command goes out, so the clear cannot discard that command (an
``OUTP OFF``). Tested call by call against a recording double of a pyvisa resource."""
from __future__ import annotations

import pytest
from pyvisa import constants as vc
from pyvisa import errors as visa_errors

from drivers.errors import DeviceTimeout
from drivers.transports.visa import VisaTransport


class RecordingResource:
    """The pyvisa calls the transport makes, in order; ``replies`` feed read() (an
    exception instance is raised)."""

    def __init__(self, replies) -> None:
        self.calls: list[tuple] = []
        self.replies = list(replies)
        self.timeout = 2000

    @property
    def visalib(self):                      # no pyvisa-py socket session behind it
        raise AttributeError("USB/GPIB double")

    def write(self, command):
        self.calls.append(("write", command))

    def read(self):
        self.calls.append(("read",))
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply + "\n"

    def clear(self):
        self.calls.append(("clear",))

    def flush(self, mask):
        self.calls.append(("flush", mask))

    def close(self):
        self.calls.append(("close",))


def timeout_error():
    return visa_errors.VisaIOError(vc.StatusCode.error_timeout)


def transport(replies):
    res = RecordingResource(replies)
    t = VisaTransport(res, "USB0::0x0957::0x2C07::MY00000000::INSTR", 0.5)
    t._reopen = lambda: pytest.fail("a USB/GPIB session is cleared, not reopened")
    return t, res


def test_a_timeout_is_followed_by_a_device_clear_before_the_next_command():
    t, res = transport([timeout_error(), "0"])
    with pytest.raises(DeviceTimeout):
        t.query("*OPC?")
    t.write("OUTP OFF")
    assert t.query("OUTP?") == "0"
    assert res.calls == [("write", "*OPC?"), ("read",),
                         ("clear",), ("flush", vc.BufferOperation.discard_read_buffer),
                         ("write", "OUTP OFF"), ("write", "OUTP?"), ("read",)]
    assert t.resyncs == 1


def test_a_query_after_a_timeout_clears_first_and_only_once():
    t, res = transport([timeout_error(), "1", "2"])
    with pytest.raises(DeviceTimeout):
        t.query("A?")
    assert t.query("B?") == "1" and t.query("C?") == "2"
    assert [c for c in res.calls if c[0] == "clear"] == [("clear",)]
    assert res.calls.index(("clear",)) < res.calls.index(("write", "B?"))


def test_without_a_timeout_nothing_is_cleared():
    t, res = transport(["1"])
    t.write("OUTP ON")
    assert t.query("OUTP?") == "1"
    assert ("clear",) not in res.calls and t.resyncs == 0


def test_a_failing_clear_still_flushes_and_the_command_goes_out():
    t, res = transport([timeout_error(), "0"])

    def broken_clear():
        res.calls.append(("clear",))
        raise timeout_error()

    res.clear = broken_clear
    with pytest.raises(DeviceTimeout):
        t.query("*OPC?")
    t.write("OUTP OFF")
    assert res.calls[2:5] == [("clear",), ("flush", vc.BufferOperation.discard_read_buffer),
                              ("write", "OUTP OFF")]
