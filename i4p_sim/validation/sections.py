"""The registry of validation sections: name (as in ``--only``) -> its ``compute``.

Each section module computes one stylized fact from its experiment file and returns a
:class:`~i4p_sim.validation.results.SectionResult` (claims, tables, text as data).
"""

from __future__ import annotations

from collections.abc import Callable

from i4p_sim.validation import (
    elections,
    event_sizes,
    funding_withdrawal,
    i4p_effect,
    patch_scale,
    relapse,
    sensitivity,
)
from i4p_sim.validation.common import Context
from i4p_sim.validation.results import SectionResult

__all__ = ["SECTIONS", "section_names"]

SECTIONS: tuple[tuple[str, Callable[[Context], SectionResult]], ...] = tuple(
    (module.NAME, module.compute)
    for module in (
        i4p_effect,
        funding_withdrawal,
        patch_scale,
        event_sizes,
        relapse,
        elections,
        sensitivity,
    )
)


def section_names() -> tuple[str, ...]:
    """The section names in document order."""
    return tuple(name for name, _ in SECTIONS)
