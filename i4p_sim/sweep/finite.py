"""Checks that a run's outputs are finite, and JSON that is always valid.

A parameter set at the edge of what the schema allows (budgets or populations near the
largest float) can overflow inside the model; the run must then fail with a clear message
instead of being stored as ``ok`` with NaN metrics. :func:`check_finite` is called by the
sweep worker and ``i4p run`` after a run, on its series, its summary and the model's
state arrays; it does not touch the model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["NonFiniteState", "check_finite", "json_dumps", "json_safe"]


class NonFiniteState(ValueError):
    """A run produced NaN or infinity: names where it was first seen."""


def _first_bad_step(values: np.ndarray, index: Any) -> str:
    bad = np.flatnonzero(~np.isfinite(values))
    return str(index[bad[0]]) if bad.size else "?"


def check_finite(
    series: pd.DataFrame | None = None,
    summary: Mapping[str, Any] | None = None,
    layers: Mapping[str, Any] | None = None,
) -> None:
    """Raise :class:`NonFiniteState` if any number of a run is NaN or infinite.

    Parameters
    ----------
    series : pandas.DataFrame, optional
        Per-step measures indexed by step.
    summary : mapping, optional
        Summary metrics.
    layers : mapping, optional
        The model's state arrays (name -> ndarray), as at the end of the run.
    """
    hint = "the parameters overflow the model (extreme budgets, costs or population?)"
    if series is not None and len(series):
        numeric = series.select_dtypes(include=[np.number, "bool"])
        values = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
        if values.size and not np.isfinite(values).all():
            col = int(np.flatnonzero(~np.isfinite(values).all(axis=0))[0])
            name = numeric.columns[col]
            step = _first_bad_step(values[:, col], numeric.index)
            raise NonFiniteState(
                f"non-finite value in the model's state: series '{name}' first at step "
                f"{step}; {hint}"
            )
    for name, arr in (layers or {}).items():
        a = np.asarray(arr)
        if a.dtype.kind in "fc" and a.size and not np.isfinite(a).all():
            raise NonFiniteState(
                f"non-finite value in the model's state: layer '{name}' "
                f"({int((~np.isfinite(a)).sum())} cells); {hint}"
            )
    for key, value in (summary or {}).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise NonFiniteState(f"non-finite summary metric '{key}' ({value}); {hint}")


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinity replaced by ``None`` (JSON ``null``) and numpy
    scalars made plain Python values."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that always gives valid JSON (``allow_nan=False``; NaN -> null)."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)
