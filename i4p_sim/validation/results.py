"""What a validation section returns, as data: values, claims, verdicts, tables, text.

Sections compute numbers and decide verdicts; they do not format. Numbers stay numbers
(:class:`Interval`, :class:`Share`, ...) inside :data:`Text` parts and :class:`Table`
cells until :mod:`i4p_sim.validation.render` writes them as Markdown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Claim",
    "Fixed",
    "KINDS",
    "Interval",
    "Kind",
    "Number",
    "Paragraph",
    "PlusMinus",
    "SectionResult",
    "Share",
    "Table",
    "Text",
    "Value",
    "Verdict",
    "direction",
    "joined",
]


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval, shown with ``digits`` significant digits."""

    est: float
    low: float
    high: float
    digits: int = 3

    @classmethod
    def of(cls, triple: Sequence[float], digits: int = 3, scale: float = 1.0) -> Interval:
        """From an ``(estimate, low, high)`` triple, optionally scaled (e.g. by 100)."""
        est, low, high = (float(v) * scale for v in triple)
        return cls(est, low, high, digits)

    def covers(self, value: float) -> bool:
        """Whether ``value`` is inside the interval (False when it is undefined)."""
        return not (math.isnan(self.low) or math.isnan(self.high)) and (
            self.low <= value <= self.high
        )


@dataclass(frozen=True)
class Share:
    """A share (0-1) with its interval, shown as percentages: ``40.0% [31.2, 48.8]``."""

    est: float
    low: float
    high: float

    @classmethod
    def of(cls, triple: Sequence[float]) -> Share:
        """From an ``(estimate, low, high)`` triple."""
        return cls(*(float(v) for v in triple))


@dataclass(frozen=True)
class Fixed:
    """A number with a fixed number of decimals and an optional suffix (``12.5%``)."""

    value: float
    decimals: int = 2
    suffix: str = ""


@dataclass(frozen=True)
class Number:
    """A number with its own count of significant digits (a plain float gets 3)."""

    value: float
    digits: int = 3


@dataclass(frozen=True)
class PlusMinus:
    """``value +- half`` with a fixed number of decimals."""

    value: float
    half: float
    decimals: int = 2


#: One piece of text or a table cell: plain text, an integer, a float (3 significant
#: digits), one of the value types above, or a tuple of these (concatenated).
Value = str | int | float | Interval | Share | Fixed | Number | PlusMinus | tuple
#: Running text: parts concatenated by the renderer.
Text = tuple[Value, ...]


def joined(values: Sequence[Value], sep: str = " / ") -> Text:
    """``values`` separated by ``sep``, as text parts."""
    out: list[Value] = []
    for i, v in enumerate(values):
        if i:
            out.append(sep)
        out.append(v)
    return tuple(out)


Status = Literal["agrees", "disagrees", "inconclusive", "unchecked"]

#: What a fact is (DESIGN 1.1; docs/ODD.md section 1's table): **input**, set by a parameter
#: or written into a rule; **mechanism**, follows from a rule by construction; **emergent**,
#: an output of the dynamics not written into any rule. Only emergent facts count as
#: agreement.
Kind = Literal["input", "mechanism", "emergent"]
KINDS: tuple[str, ...] = ("input", "mechanism", "emergent")


@dataclass(frozen=True)
class Verdict:
    """How a claim compares with the literature.

    ``status`` is what the summary counts and what the disagreement list selects
    (``disagrees`` and ``inconclusive``); ``text`` is what the summary table shows.
    """

    status: Status
    text: str

    @property
    def checked(self) -> bool:
        """Whether the claim is compared with a literature value at all."""
        return self.status != "unchecked"

    @property
    def flagged(self) -> bool:
        """Whether the claim is listed under "Where the model disagrees"."""
        return self.status in ("disagrees", "inconclusive")

    @classmethod
    def by_direction(cls, sign: int, texts: Mapping[int, str], agree: int) -> Verdict:
        """A verdict from the sign of an interval: ``agree`` is the expected sign."""
        if sign == agree:
            status: Status = "agrees"
        elif sign == 0:
            status = "inconclusive"
        else:
            status = "disagrees"
        return cls(status, texts[sign])


@dataclass(frozen=True)
class Claim:
    """One row of the summary table.

    ``topic`` names the remedy paragraph (see :attr:`SectionResult.remedies`) listed when
    the claim disagrees. ``kind`` is the fact's label (:data:`Kind`; ``None`` until
    :mod:`i4p_sim.validation.labels` sets it: an unlabelled fact is never counted) and
    ``why`` the reason for it, in a few words.
    """

    fact: str
    experiment: str
    estimate: Text
    n: str
    literature: str
    verdict: Verdict
    topic: str | None = None
    kind: Kind | None = None
    why: str = ""

    @property
    def counted(self) -> bool:
        """Whether the claim enters the "k of n agree" line: emergent and checked."""
        return self.kind == "emergent" and self.verdict.checked


@dataclass(frozen=True)
class Table:
    """A table: header labels and rows of values."""

    header: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]

    @classmethod
    def of(cls, header: Sequence[str], rows: Sequence[Sequence[Value]]) -> Table:
        """From any sequences."""
        return cls(tuple(header), tuple(tuple(r) for r in rows))


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of running text."""

    parts: Text

    @classmethod
    def of(cls, *parts: Value) -> Paragraph:
        """From parts."""
        return cls(tuple(parts))


Block = Paragraph | Table


@dataclass(frozen=True)
class SectionResult:
    """One stylized fact: its heading, text and tables, claims, and remedies.

    Attributes
    ----------
    name : str
        Section id (as in ``--only``).
    title : str
        Heading (without the ``##``).
    blocks : tuple
        Paragraphs and tables in order.
    claims : tuple of Claim
        Rows for the summary table.
    remedies : dict
        Topic -> what it would take, for flagged claims of that topic.
    runs : int
        Model runs behind the section.
    findings : tuple of Text
        Disagreements that are not one claim (e.g. a calibration that ruled out every
        point), listed under "Where the model disagrees" as they are.
    """

    name: str
    title: str
    blocks: tuple[Block, ...]
    claims: tuple[Claim, ...]
    remedies: dict[str, Text] = field(default_factory=dict)
    runs: int = 0
    findings: tuple[Text, ...] = ()


def direction(lo: float, hi: float) -> int:
    """+1 if an interval is above 0, -1 if below, 0 if it covers 0 (or is NaN)."""
    if math.isnan(lo) or math.isnan(hi):
        return 0
    if lo > 0:
        return 1
    if hi < 0:
        return -1
    return 0
