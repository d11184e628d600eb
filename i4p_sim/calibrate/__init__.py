"""History matching (DESIGN section 3.1): ``i4p calibrate EXPERIMENT``.

- :mod:`~i4p_sim.calibrate.implausibility`: the implausibility measure and its variances
  (pure numpy);
- :mod:`~i4p_sim.calibrate.emulator`: Gaussian-process emulators that choose each new wave;
- :mod:`~i4p_sim.calibrate.matching`: the wave loop over any simulator (the model or a toy
  function), so the same code is tested on a toy with a known answer;
- :mod:`~i4p_sim.calibrate.design`: the calibration file (``experiments/calibration.toml``),
  its priors and targets;
- :mod:`~i4p_sim.calibrate.statistics`: the operational targets from a wave's stored series;
- :mod:`~i4p_sim.calibrate.waves`: each wave as an experiment through the sweep engine;
- :mod:`~i4p_sim.calibrate.heldout`: the held-out targets over the ensemble members, after
  the last wave (rerunning the members where a check needs every month's violence map);
- :mod:`~i4p_sim.calibrate.ensemble`: the outputs (ensemble, waves, held-out checks).

The result is the set of parameter points not ruled out (maximum implausibility <= 3): an
**ensemble, not a posterior**. Nothing in it weighs one member over another.
"""
