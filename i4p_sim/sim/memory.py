"""Freeing a finished model's memory.

Mesa 3.3 keeps a per-model id counter in a class attribute, ``mesa.Agent._ids`` (a
``defaultdict`` keyed by the model), so every model that ever created an agent stays alive
with all its arrays: a sweep worker grew by a whole model per run and the app by two per
Reset (47 MiB a Reset at 128 x 128, measured with ``benchmarks/bench_soak.py``).
:func:`release_model` drops that entry once a model will not create agents again; it is a
no-op on Mesa versions without the attribute.
"""

from __future__ import annotations

from typing import Any

__all__ = ["release_model"]


def release_model(model: Any) -> None:
    """Forget ``model`` in Mesa's class-level agent-id registry (call when it is done)."""
    try:
        from mesa import Agent
    except ImportError:  # pragma: no cover - Mesa is a dependency
        return
    ids = Agent.__dict__.get("_ids")
    if isinstance(ids, dict):
        ids.pop(model, None)
