"""What a DAQ acquisition is asked to do, what a board can do, and whether the two fit.

A :class:`DaqPlan` is the rig file's ``[daq]`` section reduced to plain values (no
pydantic, no nidaqmx): the analog input channels in acquisition order (force first,
then the stimulus monitor if any, then the auxiliary channels), the rate, and the
analog output that drives the isolator. A :class:`DeviceInfo` is what a board says
about itself (NI-DAQmx device properties, or the simulated board's datasheet).
:func:`check_plan` compares the two before any task is created, so a rig file asking
for a channel the board lacks, a range or a rate beyond it gets one line naming the
field, and nothing starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from drivers.errors import ConfigurationError

#: terminal configurations a rig file may name (NI-DAQmx TerminalConfiguration members)
TERMINALS = ("default", "rse", "nrse", "diff", "pseudo_diff")
#: how stimulus markers are made: "ao" = the board generates the pulses (their samples
#: are known exactly); "monitor" = a stimulator's sync/monitor output on an analog input,
#: thresholded with hysteresis
MARKER_SOURCES = ("ao", "monitor")


@dataclass(frozen=True)
class AiChannel:
    """One analog input: ``value = (volts - offset_V) * scale`` in ``unit``.

    ``field`` is where the channel is named in the rig file (for error messages)."""

    name: str
    physical: str            # "ai0" or "Dev1/ai0"
    unit: str = "V"
    scale: float = 1.0
    offset_V: float = 0.0
    range_V: float = 10.0    # the input range is +-range_V
    terminal: str = "default"
    field: str = "daq"


@dataclass(frozen=True)
class AoChannel:
    """The analog output driving a voltage-controlled stimulus isolator."""

    physical: str
    range_V: float = 10.0
    field: str = "daq.ao"


@dataclass(frozen=True)
class DaqPlan:
    """One acquisition: ``channels[0]`` is force; ``monitor`` indexes the stimulus monitor
    channel in ``channels`` (or None); every other channel is auxiliary."""

    device: str
    sample_rate_hz: float
    channels: tuple[AiChannel, ...]
    markers: str = "ao"
    monitor: int | None = None
    monitor_threshold_V: float = 2.5
    monitor_hysteresis_V: float = 0.5
    ao: AoChannel | None = None
    block_s: float = 0.02          # samples read per loop: 20 ms (50 reads a second)
    ao_lead_s: float = 0.1         # analog output written this far ahead of the input
    buffer_s: float = 2.0          # board/driver buffer: this much time of slack

    @property
    def force(self) -> AiChannel:
        return self.channels[0]

    @property
    def aux_indices(self) -> tuple[int, ...]:
        """Positions in ``channels`` of the auxiliary channels (recorded beside force)."""
        return tuple(i for i in range(1, len(self.channels)) if i != self.monitor)

    @property
    def aux(self) -> tuple[AiChannel, ...]:
        return tuple(self.channels[i] for i in self.aux_indices)

    @property
    def block_samples(self) -> int:
        return max(1, int(round(self.block_s * self.sample_rate_hz)))

    @property
    def lead_samples(self) -> int:
        return max(self.block_samples, int(round(self.ao_lead_s * self.sample_rate_hz)))

    @property
    def buffer_samples(self) -> int:
        return max(4 * self.block_samples, int(round(self.buffer_s * self.sample_rate_hz)))

    def qualified(self, physical: str) -> str:
        """``ai0`` -> ``Dev1/ai0``; a name that already has a device is kept."""
        return physical if "/" in physical else f"{self.device}/{physical}"


@dataclass(frozen=True)
class DeviceInfo:
    """What a board can do (NI-DAQmx device properties, or the simulated board's)."""

    name: str
    product: str
    ai_channels: tuple[str, ...]              # fully qualified: "Dev1/ai0"
    ao_channels: tuple[str, ...]
    ai_ranges_V: tuple[float, ...]            # symmetric ranges, +-V
    ao_ranges_V: tuple[float, ...]
    ai_max_single_rate_hz: float
    ai_max_multi_rate_hz: float
    ao_max_rate_hz: float
    simultaneous: bool = False
    serial_number: str = ""
    simulated: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    def max_rate_hz(self, channels: int) -> float:
        """Highest per-channel rate for ``channels`` inputs (NI's rule: a multiplexed board
        shares its aggregate rate; a simultaneous-sampling board does not)."""
        if channels <= 1:
            return self.ai_max_single_rate_hz
        per = self.ai_max_multi_rate_hz if self.simultaneous else self.ai_max_multi_rate_hz / channels
        return min(self.ai_max_single_rate_hz, per)


def symmetric_ranges(pairs) -> tuple[float, ...]:
    """NI lists ranges as flat (low, high) pairs; the symmetric ones as +-V, sorted."""
    values = list(pairs)
    out = {round(float(hi), 6) for lo, hi in zip(values[0::2], values[1::2])
           if abs(float(lo) + float(hi)) < 1e-9 and hi > 0}
    return tuple(sorted(out))


def check_plan(plan: DaqPlan, info: DeviceInfo) -> None:
    """Raise :class:`ConfigurationError` naming the first field the board cannot do."""
    if plan.markers not in MARKER_SOURCES:
        raise ConfigurationError("daq.markers", f"must be one of {', '.join(MARKER_SOURCES)}, "
                                                f"got {plan.markers!r}")
    if plan.markers == "ao" and plan.ao is None:
        raise ConfigurationError("daq.ao", "markers = 'ao' needs an analog output ([daq.ao])")
    if plan.markers == "monitor" and plan.monitor is None:
        raise ConfigurationError("daq.monitor", "markers = 'monitor' needs a monitor input "
                                                "([daq.monitor])")
    seen: dict[str, str] = {}
    for ch in plan.channels:
        phys = plan.qualified(ch.physical)
        if phys not in info.ai_channels:
            raise ConfigurationError(f"{ch.field}.channel", _missing(phys, info.ai_channels, info))
        if phys in seen:
            raise ConfigurationError(f"{ch.field}.channel",
                                     f"{phys} is already used by {seen[phys]}")
        seen[phys] = ch.field
        if ch.terminal not in TERMINALS:
            raise ConfigurationError(f"{ch.field}.terminal",
                                     f"must be one of {', '.join(TERMINALS)}, got {ch.terminal!r}")
        _check_range(f"{ch.field}.range_V", ch.range_V, info.ai_ranges_V, info, "input")
    limit = info.max_rate_hz(len(plan.channels))
    if not 0 < plan.sample_rate_hz <= limit:
        raise ConfigurationError("daq.sample_rate_hz",
                                 f"{plan.sample_rate_hz:g} Hz on {len(plan.channels)} channel(s) is "
                                 f"beyond {info.name} ({info.product}): at most {limit:g} Hz")
    if plan.ao is not None:
        phys = plan.qualified(plan.ao.physical)
        if phys not in info.ao_channels:
            raise ConfigurationError(f"{plan.ao.field}.channel", _missing(phys, info.ao_channels, info))
        _check_range(f"{plan.ao.field}.range_V", plan.ao.range_V, info.ao_ranges_V, info, "output")
        if plan.sample_rate_hz > info.ao_max_rate_hz:
            raise ConfigurationError("daq.sample_rate_hz",
                                     f"{plan.sample_rate_hz:g} Hz is beyond the analog output of "
                                     f"{info.name} ({info.product}): at most {info.ao_max_rate_hz:g} Hz")


def _missing(phys: str, available: tuple[str, ...], info: DeviceInfo) -> str:
    device = phys.split("/", 1)[0]
    if device != info.name:
        return f"{phys}: no device {device!r} (the board is {info.name})"
    shown = ", ".join(a.split("/", 1)[1] for a in available[:4])
    more = f", ... ({len(available)} in all)" if len(available) > 4 else ""
    return f"{phys} does not exist on {info.name} ({info.product}: {shown or 'none'}{more})"


def _check_range(field_name: str, range_V: float, ranges: tuple[float, ...], info: DeviceInfo,
                 what: str) -> None:
    if not ranges:
        return
    if not 0 < range_V <= max(ranges) + 1e-9:
        raise ConfigurationError(field_name, f"+-{range_V:g} V is not an {what} range of "
                                             f"{info.name} ({info.product}: "
                                             f"{', '.join(f'+-{r:g} V' for r in ranges)})")
