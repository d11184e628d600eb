"""The one error type users see: a bad input, reported in one line."""

from __future__ import annotations


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

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = str(source)
        self.field = field
        self.message = " ".join(str(message).split())
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """Return ``"FILE: FIELD: MESSAGE"`` on one line."""
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.message}"
