"""Rig panel: choose the simulated rig or real devices, connect, see status, tare, calibrate.

The panel only collects choices and shows state; connecting, taring and calibrating are
device I/O and run on worker threads (see ``acquire_page``).
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QStackedWidget, QVBoxLayout, QWidget)

SOURCES = [("sim", "Simulated rig"), ("file", "Rig file"), ("ports", "Devices (ports)")]
#: how the panel names each kind of simulated rig (sim_devices.SIM_KINDS, as --sim KIND)
SIM_KIND_LABELS = {"serial": "Serial amplifier + SCPI stimulator",
                   "daq": "NI-DAQ board (force, stimulus, aux channels)"}


def muscle_presets() -> list[str]:
    try:
        from sim_devices.muscle.presets import preset_names
        return list(preset_names())
    except Exception:
        return ["rat-edl", "rat-soleus"]


def discover_devices() -> tuple[list[str], list[str]]:
    """(serial ports, VISA resources) from ``drivers.discovery`` when it exists."""
    try:
        from drivers import discovery
    except Exception:
        return [], []
    ports: list[str] = []
    resources: list[str] = []
    for name in ("list_serial_ports", "serial_ports", "list_ports"):
        fn = getattr(discovery, name, None)
        if fn:
            try:
                ports = [str(p["device"] if isinstance(p, dict) else getattr(p, "device", p)) for p in fn()]
            except Exception:
                pass
            break
    for name in ("list_visa_resources", "visa_resources", "list_resources"):
        fn = getattr(discovery, name, None)
        if fn:
            try:
                resources = [str(getattr(r, "resource", r)) for r in fn()]
            except Exception:
                pass
            break
    return ports, resources


class RigPanel(QWidget):
    connect_requested = Signal(dict)
    disconnect_requested = Signal()
    tare_requested = Signal()
    calibrate_requested = Signal(float)
    monitor_requested = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = QComboBox()
        for key, label in SOURCES:
            self.source.addItem(label, key)
        self.stack = QStackedWidget()
        # sim
        self.muscle = QComboBox()
        self.muscle.addItems(muscle_presets())
        self.muscle.setCurrentText("rat-edl")
        self.muscle.setToolTip("Muscle model of the simulated rig; a study's muscle, or "
                               "the Subject tab's, replaces it for a run (said in the log)")
        self.sim_kind = QComboBox()
        from sim_devices import SIM_KINDS
        for kind in SIM_KINDS:
            self.sim_kind.addItem(SIM_KIND_LABELS[kind], kind)
        self.sim_kind.setToolTip("Which simulated rig: the serial one, or a DAQ board with "
                                 "auxiliary channels (docs/daq-rig.md)")
        sim = QWidget()
        f = QFormLayout(sim)
        f.setContentsMargins(0, 0, 0, 0)
        f.addRow("Muscle", self.muscle)
        f.addRow("Hardware", self.sim_kind)
        # rig file
        self.rig_file = QLineEdit()
        self.rig_file.setPlaceholderText("rig.toml")
        pick = QPushButton("…")
        pick.setMaximumWidth(30)
        pick.clicked.connect(self._pick_rig_file)
        fw = QWidget()
        h = QHBoxLayout(fw)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.rig_file, 1)
        h.addWidget(pick)
        # ports
        self.amp_port = QComboBox(editable=True)
        self.stim_resource = QComboBox(editable=True)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_ports)
        pw = QWidget()
        pf = QFormLayout(pw)
        pf.setContentsMargins(0, 0, 0, 0)
        pf.addRow("Amplifier", self.amp_port)
        pf.addRow("Stimulator", self.stim_resource)
        pf.addRow("", refresh)
        pw.setToolTip("Connects with the default stimulus limits and 10 kHz; "
                      "use a rig file for your rig's own limits and isolator gain")
        for w in (sim, fw, pw):
            self.stack.addWidget(w)
        self.source.currentIndexChanged.connect(self.stack.setCurrentIndex)
        self.source.currentIndexChanged.connect(lambda i: i == 2 and self.refresh_ports())

        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self._connect_clicked)
        self.live_button = QPushButton("Live")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip("Show the force while no protocol runs")
        self.live_button.toggled.connect(self.monitor_requested)
        self.tare_button = QPushButton("Tare")
        self.tare_button.setToolTip("Zero the force at the present load")
        self.tare_button.clicked.connect(self.tare_requested)
        self.mass = QDoubleSpinBox(suffix=" g", decimals=1, minimum=0.1, maximum=5000.0, value=50.0)
        self.mass.setToolTip("Known mass hanging from the transducer (after tare)")
        self.cal_button = QPushButton("Calibrate")
        self.cal_button.setToolTip("Scale the calibration so the hanging mass reads right")
        self.cal_button.clicked.connect(lambda: self.calibrate_requested.emit(float(self.mass.value())))
        self.status = QLabel("Not connected")
        self.status.setWordWrap(True)

        top = QFormLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addRow("Source", self.source)
        b1 = QHBoxLayout()
        b1.addWidget(self.connect_button)
        b1.addWidget(self.live_button)
        b1.addWidget(self.tare_button)
        b2 = QHBoxLayout()
        b2.addWidget(self.mass)
        b2.addWidget(self.cal_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.stack)
        lay.addLayout(b1)
        lay.addLayout(b2)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.connected = False
        self.set_connected(False)

    def spec(self) -> dict[str, Any]:
        key = self.source.currentData()
        if key == "sim":
            return {"source": "sim", "muscle": self.muscle.currentText(),
                    "kind": self.sim_kind.currentData()}
        if key == "file":
            return {"source": "file", "path": self.rig_file.text().strip()}
        return {"source": "ports", "amplifier": self.amp_port.currentText().strip(),
                "stimulator": self.stim_resource.currentText().strip()}

    def choose_sim(self, kind: str, muscle: str) -> None:
        """Select the simulated rig of ``kind`` (sim_devices.SIM_KINDS) with the ``muscle``
        preset, as ``myoforce gui --sim KIND --muscle M`` starts it."""
        self.source.setCurrentIndex(self.source.findData("sim"))
        self.sim_kind.setCurrentIndex(self.sim_kind.findData(kind))
        self.muscle.setCurrentText(muscle)

    def _connect_clicked(self) -> None:
        if self.connected:
            self.disconnect_requested.emit()
        else:
            self.connect_button.setEnabled(False)
            self.status.setText("Connecting…")
            self.connect_requested.emit(self.spec())

    def _pick_rig_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Rig file", "", "Rig files (*.toml)")
        if path:
            self.rig_file.setText(path)

    def refresh_ports(self) -> None:
        """List ports and instruments on a worker thread (VISA discovery can take seconds)."""
        from app.gui.bridge import run_in_thread
        self.status.setText("Looking for devices…")
        run_in_thread(discover_devices, self._fill_ports, lambda exc: self.status.setText(str(exc)),
                      name="myoforce-discovery")

    def _fill_ports(self, found: tuple[list[str], list[str]]) -> None:
        ports, resources = found
        self.status.setText(f"{len(ports)} serial port(s), {len(resources)} instrument(s) found")
        for combo, items in ((self.amp_port, ports), (self.stim_resource, resources)):
            current = combo.currentText()
            combo.clear()
            combo.addItems(items)
            if current:
                combo.setCurrentText(current)

    def set_connected(self, connected: bool, status: str | None = None) -> None:
        self.connected = connected
        self.connect_button.setEnabled(True)
        self.connect_button.setText("Disconnect" if connected else "Connect")
        for w in (self.live_button, self.tare_button, self.cal_button, self.mass):
            w.setEnabled(connected)
        self.source.setEnabled(not connected)
        self.stack.setEnabled(not connected)
        if not connected:
            self.live_button.blockSignals(True)
            self.live_button.setChecked(False)
            self.live_button.blockSignals(False)
        if status is not None:
            self.status.setText(status)

    def set_busy(self, busy: bool) -> None:
        """While a protocol runs: no tare, calibration or disconnect."""
        for w in (self.connect_button, self.tare_button, self.cal_button, self.live_button):
            w.setEnabled(not busy and (self.connected or w is self.connect_button))
