"""Twins of an experiment's scenarios (docs/ODD.md 4.9; see :mod:`i4p_sim.config.experiment`).

A shocked scenario's twin is declared (``twin = "NAME"``) or, by default, the scenario of
the experiment equal to it without its shocks; without one, an implicit ``<name>~twin`` is
added. Each twin gets a null-perturbed copy ``<twin>~null`` when ``noise_pairs > 0``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.scenario import Scenario

__all__ = ["NULL_RESEED_KEY", "NULL_SUFFIX", "TWIN_SUFFIX", "resolve_twins"]

#: Name suffix of an implicit twin and of a twin's null-perturbed runs.
TWIN_SUFFIX = "~twin"
NULL_SUFFIX = "~null"
#: Key of the re-seeded decisions stream of the null-perturbed runs.
NULL_RESEED_KEY = 1


def _declared_twins(cfg: Any) -> dict[str, tuple[str, str]]:
    """Scenario name -> (declared twin, where it was declared)."""
    out: dict[str, tuple[str, str]] = {}
    for i, ref in enumerate(cfg.scenarios):
        if not isinstance(ref, str) and ref.twin is not None:
            out[ref.name or Path(ref.file).stem] = (ref.twin, f"scenarios.{i}.twin")
    for i, var in enumerate(cfg.variants):
        if var.twin is not None:
            out[var.name] = (var.twin, f"variants.{i}.twin")
    return out


def _shock_free_key(sc: Scenario) -> str:
    data = sc.to_dict()
    for key in ("name", "description", "shocks"):
        data.pop(key, None)
    return json.dumps(data, sort_keys=True, default=str)


def resolve_twins(
    cfg: Any, scenarios: dict[str, Scenario], source: str
) -> tuple[dict[str, str], dict[str, Scenario], dict[str, str]]:
    """Resolve every scenario's twin (module docstring).

    Returns ``twins`` (scenario -> twin name), ``extra`` (implicit twins and null-perturbed
    twins -> scenario) and ``nulls`` (twin -> its null-perturbed scenario's name).
    """
    declared = _declared_twins(cfg)
    unshocked = {}
    for name, sc in scenarios.items():
        if not sc.shocks:
            unshocked.setdefault(_shock_free_key(sc), name)
    twins: dict[str, str] = {}
    extra: dict[str, Scenario] = {}
    implicit_by_key: dict[str, str] = {}
    for name, sc in scenarios.items():
        if name in declared:
            twin, where = declared[name]
            if twin not in scenarios:
                raise ConfigError(
                    source,
                    where,
                    f"'{twin}' is not a scenario of this experiment; allowed: "
                    f"{', '.join(scenarios)}",
                )
            twins[name] = twin
        elif not sc.shocks:
            twins[name] = name
        else:
            key = _shock_free_key(sc)
            if key in unshocked:
                twins[name] = unshocked[key]
            else:
                if key not in implicit_by_key:
                    implicit = f"{name}{TWIN_SUFFIX}"
                    implicit_by_key[key] = implicit
                    extra[implicit] = sc.model_copy(update={"name": implicit, "shocks": []})
                twins[name] = implicit_by_key[key]
    nulls: dict[str, str] = {}
    if cfg.noise_pairs:
        for name, twin in twins.items():
            if twin == name or twin in nulls:
                continue
            null = f"{twin}{NULL_SUFFIX}"
            base = scenarios[twin] if twin in scenarios else extra[twin]
            extra[null] = base.model_copy(update={"name": null})
            nulls[twin] = null
    return twins, extra, nulls
