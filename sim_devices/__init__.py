"""A simulated rig: one physical world (muscle, clock, pulse schedule) and the two devices
that observe and drive it, speaking the documented wire protocols over real transports."""

#: the kinds of simulated rig, as ``--sim KIND`` spells them in ``myoforce run`` and
#: ``myoforce gui`` (the first is the default): the serial amplifier + SCPI stimulator,
#: or an NI-DAQ board (drivers/daq/sim_backend.py; started by app/rig/simulated.py)
SIM_KINDS = ("serial", "daq")
