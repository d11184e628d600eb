"""Numbers and tables as text: the one formatter the CLI, the report and validation share."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd


def format_number(x: Any, digits: int = 4, *, missing: str = "n/a") -> str:
    """A number as short text: ``digits`` significant digits, integers exact.

    ``None`` and NaN give ``missing``; booleans give ``True``/``False``; anything that is
    not a number is returned as ``str(x)``.
    """
    if x is None:
        return missing
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, Integral):
        return str(int(x))
    if not isinstance(x, Real):
        return str(x)
    v = float(x)
    if math.isnan(v):
        return missing
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def format_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A DataFrame as a plain text table with aligned columns."""
    if frame.empty:
        return "(no rows)"
    cols = [str(c) for c in frame.columns]
    cells = [[format_number(v, digits) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)
