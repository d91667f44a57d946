"""A DAQ board (NI-DAQmx) as force source, stimulator and auxiliary inputs on one clock.

* :mod:`drivers.daq.plan`: what is asked of the board and what it can do;
* :mod:`drivers.daq.backend`: the board interface; :mod:`drivers.daq.nidaqmx_backend`
  (the only module importing ``nidaqmx``) and :mod:`drivers.daq.sim_backend`;
* :mod:`drivers.daq.force_source` (ForceAmplifier) and :mod:`drivers.daq.stimulator`
  (Stimulator), with :mod:`drivers.daq.ao_schedule` and :mod:`drivers.daq.signals`.

See docs/daq-rig.md.
"""
