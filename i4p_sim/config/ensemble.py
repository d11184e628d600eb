"""Ensembles named by an experiment (``ensemble = "ensembles/NAME.parquet"``).

An ensemble is what ``i4p calibrate`` writes (``ensemble.parquet``; docs/CALIBRATION.md):
one row per member (a parameter point not ruled out by history matching), with the
member's parameters as dotted columns (``community.threshold``) beside bookkeeping columns
(``wave``, ``point``, per target the simulated mean, ``TARGET:var_model``, ``TARGET:I``,
``max_I``, ``not_ruled_out``). The parameters are the columns whose name has a dot and no
colon; the others are ignored.

An experiment with an ensemble runs every variant on every member: the members are its
parameter points, in the file's order (``point`` ``k`` of ``runs.parquet`` is row ``k``),
so common random numbers hold within a member exactly as at any point (replicate ``r`` has
the same seed for every variant of every member). ``members = N`` keeps the first ``N``.
DESIGN section 3.1 asks for at least :data:`MIN_MEMBERS` members and
:data:`MIN_REPLICATES` replicates; fewer run, with a note.

A ``shocks.KIND.FIELD`` column (``shocks.election.pulse``) sets that field of every shock
of the kind; in an experiment without such a shock it changes nothing (the member's world
has that parameter, this experiment never uses it), and a note says so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from i4p_sim.config.errors import ConfigError

__all__ = [
    "MIN_MEMBERS",
    "MIN_REPLICATES",
    "check_members",
    "ensemble_points",
    "ensemble_columns",
    "read_ensemble",
]

#: Members an ensemble sweep should have (DESIGN 3.1); fewer run with a note.
MIN_MEMBERS = 50
#: Replicates per member and variant an ensemble sweep should have (DESIGN 3.1).
MIN_REPLICATES = 10


def ensemble_columns(columns: list[str]) -> list[str]:
    """The parameter columns of an ensemble table: dotted names without a colon."""
    return [c for c in columns if "." in str(c) and ":" not in str(c)]


def _value(x: Any) -> Any:
    """A cell as a plain Python value (numpy scalars unwrapped)."""
    return x.item() if hasattr(x, "item") else x


def read_ensemble(
    file: str, members: int | None, source: str, replicates: int, shock_kinds: set[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The members of the ensemble ``file`` (relative to the experiment ``source``) as
    parameter points, and notes for the user.

    Raises
    ------
    ConfigError
        One line: the file is missing or unreadable, has no parameter column, no member,
        a missing value, or fewer members than ``members`` asks for. Unknown parameter
        names and out-of-bounds values are caught when the points are applied
        (:func:`check_members`).
    """
    path = Path(source).parent / file
    where = "ensemble"
    if not path.is_file():
        raise ConfigError(source, where, f"ensemble file not found: {path}")
    try:
        import pandas as pd  # lazy: only ensemble experiments read Parquet

        table = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds; one line for all
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(source, where, f"cannot read {path} as Parquet: {first}") from None
    params = ensemble_columns(list(table.columns))
    if not params:
        raise ConfigError(
            source,
            where,
            f"{path} has no parameter column (dotted names such as community.threshold)",
        )
    if len(table) == 0:
        raise ConfigError(source, where, f"{path} has no members (0 rows): nothing to run")
    if members is not None:
        if members > len(table):
            raise ConfigError(
                source, "members", f"got {members}; {path} has only {len(table)} members"
            )
        table = table.iloc[:members]
    points: list[dict[str, Any]] = []
    for k, row in enumerate(table[params].itertuples(index=False)):
        point = {}
        for name, x in zip(params, row, strict=True):
            value = _value(x)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(
                    source, where, f"{path} member {k} column {name}: got {value!r}; need a number"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(
                    source, where, f"{path} member {k} column {name}: missing or not finite"
                )
            point[name] = value
        points.append(point)
    notes = []
    if len(points) < MIN_MEMBERS:
        notes.append(
            f"{source}: the ensemble has {len(points)} members; DESIGN 3.1 asks for at least "
            f"{MIN_MEMBERS} (shares over members are rough with fewer)"
        )
    if replicates < MIN_REPLICATES:
        notes.append(
            f"{source}: {replicates} replicates per ensemble member; DESIGN 3.1 asks for at least "
            f"{MIN_REPLICATES} (each member's paired interval is wide with fewer)"
        )
    for name in params:
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "shocks" and not parts[1].isdigit():
            if parts[1] not in shock_kinds:
                notes.append(
                    f"{source}: ensemble column {name} changes nothing here (no scenario has "
                    f"a '{parts[1]}' shock)"
                )
    return points, notes


def ensemble_points(cfg, scenarios: dict, source: str, apply) -> tuple[list, list[str]]:
    """The points and notes of ``cfg``'s ensemble (``([], [])`` without one), each member
    applied to the first scenario (``apply(base, point, source)``) to check its columns are
    scenario fields within their bounds."""
    if cfg.ensemble is None:
        if cfg.members is not None:
            raise ConfigError(source, "members", "only with an ensemble = FILE")
        return [], []
    if cfg.axes or cfg.sample is not None:
        field = "axes" if cfg.axes else "sample"
        raise ConfigError(source, field, "give an ensemble, [axes] or [sample], not two")
    kinds = {shock.kind for sc in scenarios.values() for shock in sc.shocks}
    points, notes = read_ensemble(cfg.ensemble, cfg.members, source, cfg.replicates, kinds)
    check_members(points, apply, next(iter(scenarios.values())), source, cfg.ensemble)
    return points, notes


def check_members(points: list[dict[str, Any]], apply, base, source: str, file: str) -> None:
    """Apply each member to ``base`` (``apply(base, point, source)``) and rephrase the
    first failure as one line naming the ensemble, the member and the column."""
    for k, point in enumerate(points):
        try:
            apply(base, point, source)
        except ConfigError as err:
            what = err.field.removeprefix("axes/sample: ").removeprefix("axes.")
            raise ConfigError(
                source, f"ensemble ({file}) member {k}", f"{what}: {err.message}"
            ) from None
