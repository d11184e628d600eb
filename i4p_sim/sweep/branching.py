"""Branching sweeps: run each seed's shared past once and fork it (issue 12).

Runs of one seed whose scenarios have the same dynamics (everything but name, shocks,
steps and reference step: :func:`~i4p_sim.sim.snapshot.dynamics_key`) are identical until
the first effect of an *event* one of them has and another has not: a shock (each kind
declares its first effect step, :func:`~i4p_sim.sim.shocks.first_effect`) or the re-seed
of a null-perturbed twin. :func:`plan` arranges such runs in a prefix tree; a worker
(:func:`i4p_sim.sweep.worker.run_task`) runs the root's segment once, snapshots it at each
branch point and restores the snapshot for each branch, so every model step is computed
once per tree. A parameter that differs from step 0 gives another tree: no shared prefix.

:func:`plan` is pure (nothing runs): :func:`theoretical_steps` counts the model steps of an
experiment with and without branching from its schema alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from i4p_sim.config.twins import NULL_RESEED_KEY
from i4p_sim.sim.shocks import ShockSchedule, first_effect
from i4p_sim.sim.snapshot import dynamics_key
from i4p_sim.sweep.spec import RunSpec
from i4p_sim.sweep.store import FORKS_FILE

__all__ = [
    "Node",
    "add_branches",
    "branch_record",
    "plan",
    "plan_steps",
    "theoretical_steps",
    "tree_batches",
    "tree_key",
    "trees",
]

#: An event: (identity, first effect step).
Event = tuple[str, int]


@dataclass
class Node:
    """A segment of model steps ``[start, end)`` shared by ``specs``.

    At ``end`` the runs in ``leaves`` are finished (their horizon) and each child continues
    a group of the others that stay identical at least one step longer.
    """

    start: int
    end: int
    specs: list[RunSpec]
    leaves: list[RunSpec] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def steps(self) -> int:
        """Model steps this node and its descendants compute."""
        return self.end - self.start + sum(c.steps() for c in self.children)

    def first_leaf(self) -> RunSpec:
        """The run that computes this node's whole path (the trunk): its first leaf."""
        return self.leaves[0] if self.leaves else self.children[0].first_leaf()


def events(spec: RunSpec) -> set[Event]:
    """The run's events: its shocks (content, position, resolved step) and its re-seed.

    A shock is identified by its content, its occurrence among identical shocks, its
    position in the schedule (handlers run in that order) and the step it resolves to (a
    withdrawal conditional on an autocratic turn waits for the run's own turn).
    """
    sc = spec.scenario
    schedule = ShockSchedule(sc.shocks, sc.seed)
    out: set[Event] = set()
    seen: dict[str, int] = {}
    for pos, (shock, at) in enumerate(zip(sc.shocks, schedule.effective_at, strict=True)):
        dump = json.dumps(shock.model_dump(mode="json"), sort_keys=True)
        n = seen[dump] = seen.get(dump, -1) + 1
        ident = json.dumps([dump, n, pos, at])
        out.add((ident, first_effect(shock)))
    if spec.reseed_at is not None:
        out.add((f"reseed@{spec.reseed_at}:{NULL_RESEED_KEY}", int(spec.reseed_at)))
    return out


def tree_key(spec: RunSpec) -> tuple[int, str]:
    """Runs with the same key can share a prefix: same seed, same dynamics."""
    return spec.seed, spec.dynamics or dynamics_key(spec.scenario)


def plan(specs: list[RunSpec]) -> Node:
    """The prefix tree of runs that share a :func:`tree_key` (module docstring)."""
    if not specs:
        raise ValueError("plan needs at least one run")
    if len({tree_key(s) for s in specs}) > 1:
        raise ValueError("plan: runs of one tree must share their seed and dynamics")
    return _build([(s, events(s)) for s in specs], 0)


def _build(items: list[tuple[RunSpec, set[Event]]], start: int) -> Node:
    sets = [ev for _, ev in items]
    common = set.intersection(*sets)
    differing = set.union(*sets) - common
    horizons = [spec.scenario.steps for spec, _ in items]
    end = max(start, min([fe for _, fe in differing] + horizons))
    node = Node(start, end, [spec for spec, _ in items])
    groups: dict[frozenset, list[tuple[RunSpec, set[Event]]]] = {}
    for spec, ev in items:
        if spec.scenario.steps <= end:
            node.leaves.append(spec)
            continue
        # runs that agree on every event taking effect up to ``end`` stay together
        key = frozenset(e for e in ev if e[1] <= end)
        groups.setdefault(key, []).append((spec, ev))
    node.children = [_build(group, end) for group in groups.values()]
    return node


def trees(specs: Iterable[RunSpec]) -> list[list[RunSpec]]:
    """Split runs into the groups that share a prefix tree (first-seen order)."""
    out: dict[tuple[int, str], list[RunSpec]] = {}
    for spec in specs:
        out.setdefault(tree_key(spec), []).append(spec)
    return list(out.values())


def plan_steps(specs: list[RunSpec]) -> int:
    """Model steps the runs need with branching (sum over their trees)."""
    return sum(plan(group).steps() for group in trees(specs))


def units(specs: Iterable[RunSpec]) -> Iterator[list[RunSpec]]:
    """Consecutive runs of one (replicate, point), as :func:`iter_runs` lists them."""
    unit: list[RunSpec] = []
    for spec in specs:
        if unit and (spec.replicate, spec.point) != (unit[0].replicate, unit[0].point):
            yield unit
            unit = []
        unit.append(spec)
    if unit:
        yield unit


def theoretical_steps(specs: Iterable[RunSpec]) -> tuple[int, int]:
    """(steps with branching, steps without) of the runs, from their schema alone."""
    branched = independent = 0
    for unit in units(specs):
        branched += plan_steps(unit)
        independent += sum(s.scenario.steps for s in unit)
    return branched, independent


#: Trees gathered before they are ordered by cost (the largest first) and batched: the
#: ordering balances the workers' last tasks; the window keeps the driver's memory flat.
ORDER_WINDOW = 64


def tree_cost(group: list[RunSpec]) -> int:
    """Cell-steps a tree computes with branching (its plan's steps x the grid's cells)."""
    grid = group[0].scenario.grid
    return plan(group).steps() * grid.width * grid.height


def tree_batches(
    specs: Iterable[RunSpec], size: int, window: int = ORDER_WINDOW
) -> Iterator[list[RunSpec]]:
    """Batches of whole trees (a tree never spans two tasks), about ``size`` runs each.

    Trees are taken ``window`` at a time and the costliest go first (longest processing
    time first), so that no worker is left with a big tree while the others idle at the end.
    """
    buffered: list[list[RunSpec]] = []

    def flush() -> Iterator[list[RunSpec]]:
        batch: list[RunSpec] = []
        for group in sorted(buffered, key=tree_cost, reverse=True):
            if batch and len(batch) + len(group) > size:
                yield batch
                batch = []
            batch.extend(group)
        if batch:
            yield batch
        buffered.clear()

    for unit in units(specs):
        buffered.extend(trees(unit))
        if len(buffered) >= window:
            yield from flush()
    yield from flush()


def branch_record(previous: dict[str, Any], enabled: bool) -> dict[str, Any]:
    """The manifest's ``branching`` entry of a session, continuing the previous one's.

    ``steps_computed`` and ``steps_independent`` count model steps with this sweep's
    setting and without branching, over every session; ``forks`` names the file that maps
    each forked run to the run whose computed past it shares and the step it was forked at
    (:func:`~i4p_sim.sweep.store.read_forks`): the map is stored with each run's row, not
    held by the driver, whose memory stays flat in the number of runs.
    """
    before = previous.get("branching") or {}
    return {
        "enabled": enabled,
        "steps_computed": int(before.get("steps_computed", 0)),
        "steps_independent": int(before.get("steps_independent", 0)),
        "forks": FORKS_FILE,
    }


def add_branches(record: dict[str, Any], info: dict[str, Any], batch: list[RunSpec]) -> None:
    """Add a finished task's steps to a :func:`branch_record`."""
    record["steps_computed"] += int(info["steps"])
    record["steps_independent"] += sum(s.scenario.steps for s in batch)
