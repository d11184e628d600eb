"""Exit-strategy search (DESIGN 3.2): ``i4p optimize EXPERIMENT``.

:mod:`~i4p_sim.optimize.config` reads the search file, :mod:`~i4p_sim.optimize.search`
runs optuna's ask-and-tell in batches through the sweep engine, and
:mod:`~i4p_sim.optimize.front` writes the Pareto front, its report page and the best exits
in plain words.
"""

from i4p_sim.optimize.config import Search, load_search
from i4p_sim.optimize.search import SearchResult, run_search

__all__ = ["Search", "SearchResult", "load_search", "run_search"]
