"""argparse types shared by every command: whole numbers and fractions within bounds.

A bad value is argparse's one-line usage error (exit 2) naming the flag and the range.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_in(low: int, high: int | None = None, what: str = "") -> Callable[[str], int]:
    """An integer in ``[low, high]`` (``high`` None: no upper bound); ``what`` names it."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            allowed = f">= {low}" if high is None else f"{low}..{high}"
            raise argparse.ArgumentTypeError(
                f"{value} is not {what or 'allowed'}; allowed: {allowed}"
            )
        return value

    parse.__name__ = f"integer >= {low}" if high is None else f"integer in {low}..{high}"
    return parse


def float_in(low: float, high: float, *, open_interval: bool = False) -> Callable[[str], float]:
    """A number in ``[low, high]`` (or ``(low, high)`` with ``open_interval``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        inside = low < value < high if open_interval else low <= value <= high
        if not inside:
            shown = f"({low:g}, {high:g})" if open_interval else f"[{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"{value} is not in {shown}")
        return value

    parse.__name__ = "number"
    return parse


#: The common ones.
positive_int = int_in(1, what="a positive integer")
nonneg_int = int_in(0, what="a non-negative integer")
