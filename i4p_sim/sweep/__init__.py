"""Sweeps: run specs, the worker, executors, the results store and the driver.

Kept free of eager imports, so that :mod:`i4p_sim.report` can read the store without
importing the model.
"""
