"""The one error type users see, a bad input in one line, and the pydantic translator."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from pydantic import ValidationError


class ConfigError(ValueError):
    """A bad scenario, experiment or flag: names the file, the field and what is allowed.

    Parameters
    ----------
    source : str
        The file (or ``"--set"``, ``"command line"``) the bad value came from.
    field : str
        Dotted path of the field, or ``""`` for the file as a whole.
    message : str
        What is wrong and what is allowed.
    """

    #: The CLI's exit status for this error (2: bad input; 1: a run or sweep failed).
    exit_code = 2

    def __init__(self, source: str, field: str, message: str) -> None:
        # a field or file name with a newline or other control character (a fuzzed --set)
        # is shown quoted, so the message stays one line
        self.source = str(source) if str(source).isprintable() else repr(str(source))
        self.field = field if field.isprintable() else repr(field)
        self.message = " ".join(str(message).split())
        super().__init__(self.one_line())

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        # rebuilt from its three fields: a worker process's error reaches the driver intact
        return (type(self), (self.source, self.field, self.message))

    def one_line(self) -> str:
        """Return ``"FILE: FIELD: MESSAGE"`` on one line."""
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.message}"


class RunFailed(ConfigError):
    """A run or sweep that started and failed (exit 1): one line, like a bad input."""

    exit_code = 1


def os_error_line(exc: OSError, what: str = "") -> str:
    """One line for an OS error: the path(s), what failed and the reason."""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = exc.strerror or text
    where = " -> ".join(paths)
    head = f"{where}: " if where else ""
    return " ".join(f"{head}{what + ': ' if what else ''}{reason}".split())


def error_path(loc: tuple[Any, ...], skip: Collection[str] = ()) -> str:
    """Dotted field path of a pydantic error location.

    ``skip`` names location items that are not fields: the discriminator tags of a tagged
    union (pydantic puts e.g. ``'funding_withdrawal'`` into the location) and the member
    names of a plain union (``'str'``).
    """
    parts = []
    for item in loc:
        if isinstance(item, str) and (
            item in skip or item.startswith(("function-", "constrained-"))
        ):
            continue
        parts.append(str(item))
    return ".".join(parts)


_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "less_than_equal": ("<=", "le"),
    "greater_than": (">", "gt"),
    "less_than": ("<", "lt"),
}


def describe_error(err: Mapping[str, Any], tags: Sequence[str] = ()) -> str:
    """What is wrong with one pydantic error and what is allowed, in plain words.

    ``tags`` are the allowed values of a tagged union's discriminator (the shock kinds).
    """
    etype = err.get("type", "")
    ctx = err.get("ctx") or {}
    given = err.get("input")
    shown = repr(given) if not isinstance(given, dict | list) else type(given).__name__
    if len(shown) > 60:  # a 4000-digit integer or a long string: keep the line short
        shown = shown[:40] + f"... ({len(shown)} characters)"
    if etype == "extra_forbidden":
        return "unknown key"
    if etype == "missing":
        return "required field is missing"
    allowed = ", ".join(tags)
    if etype == "union_tag_invalid":
        return f"unknown shock kind {ctx.get('tag')!r}; allowed: {allowed}"
    if etype == "union_tag_not_found":
        return f"missing 'kind'; allowed: {allowed}"
    if etype == "literal_error":
        return f"got {shown}; allowed: {ctx.get('expected')}"
    if etype == "string_pattern_mismatch":
        return f"got {given!r}; use letters, digits and _ . - + ~ only (not starting with . or ~)"
    if etype in _BOUNDS:
        sign, key = _BOUNDS[etype]
        return f"got {shown}; must be {sign} {ctx.get(key)}"
    return f"got {shown}; {err.get('msg', 'invalid')}"


def from_validation_error(
    source: str,
    exc: ValidationError,
    *,
    allowed_keys: Callable[[str], Sequence[str] | None] = lambda section: None,
    tags: Sequence[str] = (),
    skip: Collection[str] = (),
) -> ConfigError:
    """The one-line :class:`ConfigError` for a pydantic ``ValidationError``.

    Parameters
    ----------
    source : str
        The file (or ``"--set"``) the data came from.
    exc : pydantic.ValidationError
        The failure; its first error is reported.
    allowed_keys : callable
        Section path (``""`` for the top level, ``"shocks.0"``) -> the keys allowed there,
        or ``None`` if unknown; used to list them after an unknown key.
    tags : sequence of str
        The allowed discriminator values of a tagged union (the shock kinds).
    skip : collection of str
        Other location items that are not fields (see :func:`error_path`).
    """
    err = exc.errors()[0]
    field = error_path(err["loc"], (*tags, *skip))
    message = describe_error(err, tags)
    etype = err.get("type")
    if etype == "extra_forbidden":
        section = field.rsplit(".", 1)[0] if "." in field else ""
        known = allowed_keys(section)
        if known is not None:
            message = f"unknown key; allowed: {', '.join(known)}"
    elif etype == "value_error" and not field:
        # a model-level check names its own field: "shocks.0.donor: 'x' is not a donor"
        text = str(err.get("msg", "")).removeprefix("Value error, ")
        field, _, message = text.partition(": ")
    return ConfigError(source, field, message)
