"""Small helpers on arrays of flat cell indices (the sparse paths of the step). Pure numpy."""

from __future__ import annotations

import numpy as np


def sorted_unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_counts=True)`` for a small int array, a few times faster.

    (numpy 2's ``unique`` and ``union1d`` cost 10-60 us on a few hundred entries.)
    """
    s = np.sort(values)
    first = np.empty(s.size, dtype=bool)
    first[:1] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.empty_like(starts)  # np.diff(starts, append=s.size), without its overhead
    np.subtract(starts[1:], starts[:-1], out=counts[:-1])
    counts[-1:] = s.size - starts[-1:]
    return s[starts], counts


def sum_by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``keys`` (sorted) and the sum of the ``values`` of each.

    For integer values (exact in any order of addition).
    """
    if keys.size == 0:
        return keys, values
    order = np.argsort(keys, kind="stable")
    s = keys[order]
    first = np.empty(s.size, dtype=bool)
    first[:1] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return s[starts], np.add.reduceat(values[order], starts)
