"""The simulated muscle of the sim rig: Ding et al. (2000) force model with recruitment,
length-tension, fatigue, noise and a treatment effect; presets for rat muscles."""
from sim_devices.muscle.model import MuscleModel
from sim_devices.muscle.presets import (
    PRESETS,
    MusclePreset,
    UnknownMuscleError,
    get_preset,
    preset_names,
)
from sim_devices.muscle.recurrence import linear_recurrence
from sim_devices.muscle.treatment import TreatmentEffect

__all__ = ["MuscleModel", "TreatmentEffect", "linear_recurrence", "PRESETS", "MusclePreset",
           "UnknownMuscleError", "get_preset", "preset_names"]
