"""Which ports and instruments are there: serial ports (pyserial) and VISA resources (pyvisa-py).

Used by ``myoforce devices`` and the GUI's connection dialog to offer choices. Discovery
must never hang the caller: pyvisa-py's resource listing broadcasts for VXI-11 and mDNS
instruments and waits for answers, and some backends block on missing drivers, so the
listing runs in a worker thread with a time limit and any failure yields an empty list.
Pseudo-terminals (such as the simulated amplifier's) are not listed by the operating
system; ``myoforce sim`` prints their paths instead.
"""
from __future__ import annotations

import logging
import threading
import warnings

log = logging.getLogger(__name__)


def list_serial_ports() -> list[dict]:
    """Serial ports the OS knows, as dicts with ``device``, ``description``, ``hwid``,
    ``vid``, ``pid``, ``serial_number``, ``manufacturer`` (None where unknown)."""
    try:
        from serial.tools import list_ports
        ports = list_ports.comports()
    except Exception as exc:  # no pyserial backend for this OS, permission trouble
        log.warning("cannot list serial ports: %s", exc)
        return []
    out = []
    for p in sorted(ports, key=lambda p: p.device):
        out.append({
            "device": p.device,
            "description": p.description if p.description not in (None, "n/a") else None,
            "hwid": p.hwid if p.hwid not in (None, "n/a") else None,
            "vid": p.vid,
            "pid": p.pid,
            "serial_number": p.serial_number,
            "manufacturer": p.manufacturer,
        })
    return out


def list_visa_resources(query: str = "?*::INSTR", *, backend: str = "@py",
                        timeout_s: float = 5.0) -> list[str]:
    """VISA resource strings matching ``query``, or ``[]`` if the VISA library is missing,
    fails or does not answer within ``timeout_s`` (the listing thread is then left to
    finish on its own; it is a daemon and holds nothing the caller needs).

    Raw-socket instruments (``TCPIP0::host::port::SOCKET``) are never discovered by VISA;
    they are opened by name."""
    # pyvisa-py warns about every optional discovery backend it lacks (zeroconf, psutil,
    # pyusb, gpib); that is not news to a user asking for a list. ``catch_warnings`` is not
    # thread-safe, so the filter is installed once, for pyvisa-py's UserWarnings only.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pyvisa_py(\..*)?$")
    result: list[str] = []
    done = threading.Event()

    def work() -> None:
        try:
            import pyvisa
            rm = pyvisa.ResourceManager(backend)
            result.extend(sorted(str(r) for r in rm.list_resources(query)))
        except Exception as exc:
            log.warning("cannot list VISA resources: %s", exc)
        finally:
            done.set()

    threading.Thread(target=work, name="visa-discovery", daemon=True).start()
    if not done.wait(timeout_s):
        log.warning("VISA resource listing did not finish within %.1f s", timeout_s)
        return []
    return list(result)


def list_daq_devices() -> tuple[list[dict], str | None]:
    """NI-DAQmx boards (name, product, channels, rates, ranges) and, when there can be none
    because the ``nidaqmx`` package or NI's driver is missing, a plain sentence saying so.

    ``nidaqmx`` is imported only here, and only when asked (an optional extra)."""
    from drivers.errors import DeviceError

    try:
        from drivers.daq.nidaqmx_backend import NidaqmxBackend
        infos = NidaqmxBackend().list_devices()
    except DeviceError as exc:
        return [], str(exc)
    except Exception as exc:  # a broken installation must not break the listing
        log.warning("cannot list NI-DAQmx devices: %s", exc)
        return [], f"cannot list NI-DAQmx devices: {exc}"
    return [{"name": d.name, "product": d.product, "serial_number": d.serial_number,
             "simulated": d.simulated, "ai_channels": len(d.ai_channels),
             "ao_channels": len(d.ao_channels), "ai_max_single_rate_hz": d.ai_max_single_rate_hz,
             "ai_max_multi_rate_hz": d.ai_max_multi_rate_hz,
             "ai_ranges_V": list(d.ai_ranges_V), "ao_ranges_V": list(d.ao_ranges_V)}
            for d in infos], None
