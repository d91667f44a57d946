"""A simulated rig: one physical world (muscle, clock, pulse schedule) and the two devices
that observe and drive it, speaking the documented wire protocols over real transports."""
