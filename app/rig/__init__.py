"""The rig: its file (``config``) and connecting to it (``connect``), real or simulated."""
from app.rig.config import RigConfig, RigFileError, load_rig_file, parse_rig
from app.rig.connect import (SimulatedRig, connect_devices, connect_rig, resolve_muscle,
                             start_sim_rig)

__all__ = ["RigConfig", "RigFileError", "load_rig_file", "parse_rig", "SimulatedRig",
           "connect_devices", "connect_rig", "resolve_muscle", "start_sim_rig"]
