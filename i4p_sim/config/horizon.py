"""Shocks and the run's horizon: a shock scheduled past the last month is an error.

A run of ``steps`` months covers months ``0 .. steps - 1``; a shock at month ``at`` takes
effect only if ``at < steps``. A shock past the end would be silently ignored (the run's
metrics read as if nothing were scheduled), so ``i4p check``, ``i4p run`` and ``i4p sweep``
refuse it with one line naming the file, the shock and the smallest number of steps that
keeps it. The Python API (:func:`i4p_sim.simulate`, :class:`i4p_sim.Simulation`) and the
app still accept such a scenario: the app runs past the horizon on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.scenario import Scenario

__all__ = ["check_shocks_in_horizon", "latest_shock_beyond", "steps_needed"]


def steps_needed(scenario: Scenario) -> int:
    """The smallest ``steps`` that keeps every shock of ``scenario`` (1 without shocks)."""
    return max((s.at + 1 for s in scenario.shocks), default=1)


def latest_shock_beyond(scenario: Scenario) -> tuple[int, int] | None:
    """``(index, at)`` of the latest shock at or past ``scenario.steps``, or ``None``.

    The latest one is named because the steps that keep it keep every other shock too.
    """
    beyond = [(s.at, i) for i, s in enumerate(scenario.shocks) if s.at >= scenario.steps]
    if not beyond:
        return None
    at, index = max(beyond)
    return index, at


def check_shocks_in_horizon(
    scenarios: Iterable[tuple[str, Scenario]], source: str, *, flag: str = "--steps"
) -> None:
    """Refuse a shock scheduled past the last month of its run.

    Parameters
    ----------
    scenarios : iterable of (str, Scenario)
        ``(where, scenario)`` pairs: ``where`` prefixes the field (``""`` for a scenario
        file, ``"abrupt_120."`` for an experiment's variant).
    source : str
        The file named in the error.
    flag : str
        The command-line flag that sets the steps, named in the hint.

    Raises
    ------
    ConfigError
        One line: the latest shock past the horizon (over all ``scenarios``), its kind and
        month, the run's steps, and the smallest steps that keeps it (and so every shock).
    """
    worst: tuple[int, str, int, Scenario] | None = None
    for where, scenario in scenarios:
        found = latest_shock_beyond(scenario)
        if found is not None and (worst is None or found[1] > worst[0]):
            worst = (found[1], where, found[0], scenario)
    if worst is None:
        return
    at, where, index, scenario = worst
    kind = scenario.shocks[index].kind
    steps = scenario.steps
    raise ConfigError(
        source,
        f"{where}shocks.{index}",
        f"{kind} at month {at} is past the end of a {steps}-step run (months 0-{steps - 1}) "
        f"and would be ignored; steps must be >= {at + 1} to keep it (e.g. {flag} {at + 1})",
    )
