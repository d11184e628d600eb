"""i4p-sim: an agent-based simulator of Infrastructures for Peace."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("i4p-sim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["I4PModel", "load_scenario", "run_experiment", "__version__"]


def __getattr__(name: str):
    # lazy: importing the package must not pull Mesa into the pure modules' users
    if name == "I4PModel":
        from .model import I4PModel

        return I4PModel
    if name == "load_scenario":
        from .scenario import load_scenario

        return load_scenario
    if name == "run_experiment":
        from .experiment import run_experiment

        return run_experiment
    raise AttributeError(name)
