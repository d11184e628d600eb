"""The registry of validation sections: their names (as in ``--only``), in document order.

Each section is the module ``i4p_sim.validation.<name>``: it computes one stylized fact
from its experiment file and returns a :class:`~i4p_sim.validation.results.SectionResult`
(claims, tables, text as data). Modules are imported when a section runs, so the command
line can list the names without loading the model. The sections read from stored results
(sensitivity, calibration, policy, checks) are not here: see
:func:`~i4p_sim.validation.run.evidence_sections`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from i4p_sim.validation.common import Context
    from i4p_sim.validation.results import SectionResult

__all__ = ["SECTION_NAMES", "compute_of"]

SECTION_NAMES: tuple[str, ...] = (
    "i4p_effect",
    "funding_withdrawal",
    "patch_scale",
    "event_sizes",
    "relapse",
    "elections",
)


def compute_of(name: str) -> Callable[[Context], SectionResult]:
    """The ``compute`` function of section ``name``."""
    if name not in SECTION_NAMES:
        raise KeyError(f"no validation section {name!r}; allowed: {', '.join(SECTION_NAMES)}")
    module = importlib.import_module(f"i4p_sim.validation.{name}")
    if module.NAME != name:
        raise RuntimeError(f"i4p_sim.validation.{name} calls itself {module.NAME!r}")
    return module.compute
