"""i4p-sim: an agent-based simulator of Infrastructures for Peace."""

from i4p_sim._version import __version__

__all__ = ["I4PModel", "Simulation", "load_scenario", "run_experiment", "simulate", "__version__"]


def __getattr__(name: str):
    # lazy: importing the package must not pull Mesa into the pure modules' users
    if name == "I4PModel":
        from i4p_sim.sim.model import I4PModel

        return I4PModel
    if name == "load_scenario":
        from i4p_sim.config.loading import load_scenario

        return load_scenario
    if name in ("Simulation", "simulate"):
        from i4p_sim.sim import simulation

        return getattr(simulation, name)
    if name == "run_experiment":
        from i4p_sim.sweep.driver import run_experiment

        return run_experiment
    raise AttributeError(name)
