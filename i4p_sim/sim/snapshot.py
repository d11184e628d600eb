"""Snapshot and restore of a running model: arrays, generator states and scalars.

A :class:`ModelSnapshot` holds everything that the next steps of an
:class:`~i4p_sim.sim.model.I4PModel` read — property layers, the committee tier's arrays,
councils' and donors' scalars, the state's legitimacy and crackdowns, the rapid-response
queue (as arrays), the councils' late view of violence, every keyed numpy stream, Mesa's
own ``random`` / ``rng`` and, on Mesa 3.3, the model's agent-id counter — and the collected
series. It never holds a Python agent object: :func:`capture` copies arrays and converts the
rest to JSON-serialisable values, and :func:`restore` writes them in place into an existing
model built from a compatible scenario (agents are never rebuilt, so property layers keep
sharing memory with the model's arrays).

What is derived from the scenario and the landscape (catchments, friction, the inhabited
mask) is not stored: a snapshot is restored only into a model of the same scenario
dynamics and seed (:func:`dynamics_key`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from i4p_sim.sim.responses import Response

__all__ = ["ModelSnapshot", "capture", "dynamics_key", "restore"]

#: Scenario fields that do not change a run's dynamics (only its identity or its outputs'
#: reading); the shocks are compared separately, shock by shock, with their first effect.
NON_DYNAMIC = ("name", "description", "shocks", "steps", "reference_step", "seed")
#: Committee-tier arrays that change during a run.
TIER_ARRAYS = (
    "capacity",
    "ownership",
    "legitimacy",
    "active",
    "funding",
    "training",
    "legitimacy_target",
    "trust_home",
    "trust_other",
)
#: Council attributes (Python scalars) that change during a run.
COUNCIL_SCALARS = (
    "carried",
    "returned",
    "mandate",
    "mandate_target",
    "suspended_until",
    "donor_funds",
    "responses_sent",
    "agreement_until",
    "cooldown_until",
    "agreements",
    "broken_agreements",
)
#: Model buffers that carry state from one step to the next.
MODEL_ARRAYS = ("base_grievance", "base_cohesion", "near", "sanction", "shock_drive")
_RESPONSE_INT = ("lands", "ends", "row", "col")
_RESPONSE_FLOAT = ("target_tension", "target_percentile")


def dynamics_key(scenario: Any) -> str:
    """A hash of everything in ``scenario`` but its name, description, shocks, steps,
    reference step and seed: two scenarios with the same key and the same seed evolve
    identically until the first effect of a shock one has and the other has not."""
    return dict_dynamics_key(scenario.to_dict())


def dict_dynamics_key(data: dict[str, Any]) -> str:
    """:func:`dynamics_key` of a scenario's ``to_dict()``."""
    data = {k: v for k, v in data.items() if k not in NON_DYNAMIC}
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class ModelSnapshot:
    """The state of a model after ``step`` steps.

    Attributes
    ----------
    step : int
        Steps done.
    arrays : dict
        Name -> numpy array (copies; never a view of the live model).
    meta : dict
        JSON-serialisable scalars, lists and generator states.
    """

    step: int
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(a.nbytes for a in self.arrays.values())


# ------------------------------------------------------------------ Mesa's own state


def _mesa_id_counter(model: Any) -> int | None:
    """The next agent id Mesa would give in ``model``.

    Mesa 3.5 keeps it on the model (``agent_id_counter``); Mesa 3.3 in a class-level
    ``itertools.count`` per model (``Agent._ids``), which a deep copy or a pickle would
    duplicate. None if neither is there.
    """
    from mesa import Agent

    if isinstance(getattr(model, "agent_id_counter", None), int):
        return int(model.agent_id_counter)
    ids = Agent.__dict__.get("_ids")
    if not isinstance(ids, dict) or model not in ids:
        return None
    match = re.fullmatch(r"count\((\d+)\)", repr(ids[model]))
    return int(match.group(1)) if match else None


def _set_mesa_id_counter(model: Any, value: int | None) -> None:
    from mesa import Agent

    if value is None:
        return
    if isinstance(getattr(model, "agent_id_counter", None), int):
        model.agent_id_counter = value
        return
    ids = Agent.__dict__.get("_ids")
    if isinstance(ids, dict):
        ids[model] = itertools.count(value)


def _set_mesa_steps(model: Any, steps: int) -> None:
    """Set Mesa's step counter and, on Mesa 3.5, its clock and the next step event."""
    model.steps = steps
    gen = getattr(model, "_default_schedule", None)
    if gen is None or not hasattr(model, "time"):
        return
    if gen._current_event is not None:
        gen._current_event.cancel()
    model.time = float(steps)
    gen._execution_count = steps
    gen._schedule_next(float(steps) + gen._get_interval())


def _random_state(rnd: Any) -> list:
    version, internal, gauss = rnd.getstate()
    return [version, list(internal), gauss]


def _set_random_state(rnd: Any, state: list) -> None:
    version, internal, gauss = state
    rnd.setstate((version, tuple(internal), gauss))


# -------------------------------------------------------------------------- capture


def capture(model: Any, extra_steps: int | None = None) -> ModelSnapshot:
    """Copy the state of ``model`` (module docstring) into a :class:`ModelSnapshot`."""
    arrays: dict[str, np.ndarray] = {}
    for name, layer in model.layers.items():
        arrays[f"layer/{name}"] = layer.copy()
    for name in MODEL_ARRAYS:
        arrays[f"model/{name}"] = getattr(model, name).copy()
    tier = model.committees
    for name in TIER_ARRAYS:
        arrays[f"tier/{name}"] = getattr(tier, name).copy()
    state = model.state
    arrays["state/legitimacy"] = state.legitimacy.copy()
    arrays["state/initial_legitimacy"] = state.initial_legitimacy.copy()
    arrays["state/until"] = state.until.copy()
    _capture_responses(model.responses, arrays)
    councils = []
    for c in model.councils:
        entry = {name: getattr(c, name) for name in COUNCIL_SCALARS}
        entry["recent_violence"] = list(c._recent_violence)
        entry["during"] = None if c._during is None else list(c._during)
        councils.append(entry)
    sched = model.shocks
    meta = {
        "steps": int(model.steps),
        "civic_space": model.civic_space,
        "capture": model.capture,
        "cluster": model._cluster,
        "measures": dict(model.measures),
        "councils": councils,
        "donors": [d.multiplier for d in model.donors],
        "state": {"carried": state.carried, "crackdowns": state.crackdowns},
        "responses": {
            "n_landed": model.responses.n_landed,
            "capture": model.responses.capture,
            "captured": model.responses._captured,
        },
        "streams": {name: g.bit_generator.state for name, g in model.streams.items()},
        "shock_streams": [
            [k, g.bit_generator.state] for k, g in zip(sched.keys, sched.rngs, strict=True)
        ],
        "fired": [list(f) for f in sched.fired],
        "mesa": {
            "random": _random_state(model.random),
            "rng": model.rng.bit_generator.state,
            "agent_ids": _mesa_id_counter(model),
        },
        "series": {k: list(v) for k, v in model.datacollector.model_vars.items()},
    }
    return ModelSnapshot(int(model.steps), arrays, meta)


def _capture_responses(resp: Any, arrays: dict[str, np.ndarray]) -> None:
    """The response queue and the landed diagnostics as columns, the views as arrays."""
    councils = sorted({r.council for r in (*resp.queue, *resp.landed)})
    for which, items in (("queue", resp.queue), ("landed", resp.landed)):
        for name in _RESPONSE_INT:
            arrays[f"resp/{which}/{name}"] = np.array(
                [getattr(r, name) for r in items], dtype=np.int64
            )
        for name in _RESPONSE_FLOAT:
            arrays[f"resp/{which}/{name}"] = np.array(
                [getattr(r, name) for r in items], dtype=np.float64
            )
        arrays[f"resp/{which}/observed"] = np.array(
            [r.source == "observed" for r in items], dtype=bool
        )
        arrays[f"resp/{which}/council"] = np.array(
            [councils.index(r.council) for r in items], dtype=np.int64
        )
    arrays["resp/council_names"] = np.array(councils, dtype=np.str_)
    arrays["resp/damping"] = resp.damping.copy()
    arrays["resp/windows"] = np.array(
        [[w[0].start, w[0].stop, w[1].start, w[1].stop] for w in resp._windows],
        dtype=np.int64,
    ).reshape(-1, 4)
    seen = list(resp.seen)
    arrays["resp/seen"] = (
        np.stack(seen) if seen else np.zeros((0, *resp.shape), dtype=bool)
    ).copy()
    arrays["resp/errors"] = resp._errors.copy()


# -------------------------------------------------------------------------- restore


def restore(model: Any, snap: ModelSnapshot) -> None:
    """Write ``snap`` into ``model`` in place (module docstring).

    The model must have been built from a scenario with the snapshot's dynamics and seed;
    its collected series are replaced by the snapshot's (truncated to ``snap.step``).
    """
    a, meta = snap.arrays, snap.meta
    for name, layer in model.layers.items():
        np.copyto(layer, a[f"layer/{name}"])
    for name in MODEL_ARRAYS:
        np.copyto(getattr(model, name), a[f"model/{name}"])
    tier = model.committees
    for name in TIER_ARRAYS:
        # the tier rebinds some arrays every step: give it fresh copies
        setattr(tier, name, a[f"tier/{name}"].copy())
    state = model.state
    state.legitimacy = a["state/legitimacy"].copy()
    state.initial_legitimacy = a["state/initial_legitimacy"].copy()
    np.copyto(state.until, a["state/until"])
    state.carried = meta["state"]["carried"]
    state.crackdowns = meta["state"]["crackdowns"]
    _restore_responses(model.responses, a, meta["responses"])
    for c, entry in zip(model.councils, meta["councils"], strict=True):
        for name in COUNCIL_SCALARS:
            setattr(c, name, entry[name])
        c._recent_violence = deque(entry["recent_violence"], maxlen=c._recent_violence.maxlen)
        c._during = None if entry["during"] is None else list(entry["during"])
    for d, mult in zip(model.donors, meta["donors"], strict=True):
        d.multiplier = mult
    model.civic_space = meta["civic_space"]
    model.capture = meta["capture"]
    model._cluster = meta["cluster"]
    model.measures.clear()
    model.measures.update(meta["measures"])
    for name, st in meta["streams"].items():
        model.streams[name].bit_generator.state = st
    sched = model.shocks
    saved = dict((int(k), st) for k, st in meta["shock_streams"])
    for key, rng in zip(sched.keys, sched.rngs, strict=True):
        if key in saved:
            rng.bit_generator.state = saved[key]
    sched.fired = [tuple(f) for f in meta["fired"]]
    mesa_state = meta["mesa"]
    _set_random_state(model.random, mesa_state["random"])
    model.rng.bit_generator.state = mesa_state["rng"]
    _set_mesa_id_counter(model, mesa_state["agent_ids"])
    _set_mesa_steps(model, meta["steps"])
    dc = model.datacollector
    for name, values in meta["series"].items():
        dc.model_vars[name] = list(values)


def _restore_responses(resp: Any, a: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    names = [str(n) for n in a["resp/council_names"]]
    for which in ("queue", "landed"):
        cols = {n: a[f"resp/{which}/{n}"].tolist() for n in (*_RESPONSE_INT, *_RESPONSE_FLOAT)}
        observed = a[f"resp/{which}/observed"].tolist()
        council = a[f"resp/{which}/council"].tolist()
        items = [
            Response(
                lands=cols["lands"][i],
                ends=cols["ends"][i],
                row=cols["row"][i],
                col=cols["col"][i],
                source="observed" if observed[i] else "warning",
                council=names[council[i]],
                target_tension=cols["target_tension"][i],
                target_percentile=cols["target_percentile"][i],
            )
            for i in range(len(observed))
        ]
        target = getattr(resp, which)
        target.clear()
        target.extend(items)
    resp.n_landed = meta["n_landed"]
    resp.capture = meta["capture"]
    resp._captured = meta["captured"]
    np.copyto(resp.damping, a["resp/damping"])
    resp._windows = [
        (slice(r0, r1), slice(c0, c1)) for r0, r1, c0, c1 in a["resp/windows"].tolist()
    ]
    resp._window_mask[...] = False
    seen = a["resp/seen"]
    resp.seen.clear()
    for m in seen:
        resp.seen.append(m.copy())
    resp._errors = a["resp/errors"].copy()


def rebind(model: Any, scenario: Any) -> None:
    """Give ``model`` the configuration of ``scenario`` (same dynamics and seed): its
    config, every sub-configuration its parts hold and a fresh shock schedule (whose
    streams :func:`restore` then sets for the shocks the snapshot knows)."""
    from i4p_sim.sim.shocks import ShockSchedule

    if scenario.seed != model.config.seed or dynamics_key(scenario) != dynamics_key(model.config):
        raise ValueError(
            f"cannot rebind scenario {scenario.name!r}: its dynamics or seed differ from "
            f"the model's ({model.config.name!r}); only shocks, steps and names may differ"
        )
    model.config = scenario
    model.committees.cfg = scenario.lpc
    for council in model.councils:
        council.cfg = scenario.council
    model.responses.cfg = scenario.council
    model.state.cfg = scenario.state
    for donor, cfg in zip(model.donors, scenario.donors, strict=True):
        donor.cfg = cfg
    model.shocks = ShockSchedule(scenario.shocks, scenario.seed)
