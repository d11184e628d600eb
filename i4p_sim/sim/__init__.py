"""The Mesa shell: the model, its agents, shocks and responses, and :class:`Simulation`."""

from i4p_sim.sim.simulation import Simulation, SimulationResult, simulate

__all__ = ["Simulation", "SimulationResult", "simulate"]
