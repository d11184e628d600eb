"""The HTML report: reads the results store and :mod:`i4p_sim.stats`, never the model."""
