"""Reading scenario files: TOML, ``extends``, ``--set`` overrides, one-line errors.

Every failure becomes a :class:`~i4p_sim.config.errors.ConfigError` naming the file, the
dotted field path and what is allowed.
"""

from __future__ import annotations

import copy
import stat
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from i4p_sim.config.errors import ConfigError, from_validation_error
from i4p_sim.config.scenario import (
    FILE_FIELDS,
    SHOCK_CLASSES,
    SHOCK_KINDS,
    CouncilConfig,
    DonorConfig,
    DynamicsConfig,
    GridConfig,
    LandscapeConfig,
    LPCConfig,
    Scenario,
    default_donors,
)

#: Largest TOML file read (a scenario or experiment is a few KiB).
MAX_TOML_BYTES = 1 << 20


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a one-line :class:`ConfigError`.

    Only a regular file is read: a FIFO would block, a device such as ``/dev/zero`` never
    ends, so both are refused from ``stat`` before opening; a symlink loop, a permission
    problem or any other OS error is one line too.
    """
    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        raise ConfigError(str(p), "", "file not found") from None
    except OSError as exc:  # ELOOP (symlink loop), EACCES, ENAMETOOLONG...
        raise ConfigError(str(p), "", f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(str(p), "", "is a directory; expected a .toml file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(
            str(p), "", "not a regular file (a FIFO or device?); expected a .toml file"
        )
    if info.st_size > MAX_TOML_BYTES:
        raise ConfigError(str(p), "", f"{info.st_size} bytes; at most {MAX_TOML_BYTES} allowed")
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_TOML_BYTES + 1)
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(p), "", f"not valid UTF-8 (byte {exc.start}); TOML files must be UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(str(p), "", f"cannot read: {exc.strerror or exc}") from None
    return _loads(text, str(p))


def _loads(text: str, source: str) -> dict[str, Any]:
    """``tomllib.loads`` with its errors (and Python's limit on integer digits) as one line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"malformed TOML: {exc}") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise ConfigError(source, "", f"malformed TOML: {str(exc).split(';')[0]}") from None
    except RecursionError:
        raise ConfigError(source, "", "malformed TOML: nested too deeply") from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge tables; arrays (donors, shocks) and scalars in ``over`` replace."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_extends(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a scenario file and the chain of files it ``extends``, merged, as a dict."""
    try:
        p = Path(path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ConfigError(str(path), "", f"cannot resolve the path: {exc}") from None
    if p in _chain:
        cycle = " -> ".join(str(c.name) for c in (*_chain, p))
        raise ConfigError(str(path), "extends", f"circular extends ({cycle})")
    raw = resolve_files(read_toml(path), Path(path))
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise ConfigError(
            str(path), "extends", "must be a file name (string), relative to this file"
        )
    parent_path = Path(path).parent / parent
    if not _exists(parent_path):
        raise ConfigError(str(path), "extends", f"'{parent}' not found (looked for {parent_path})")
    return _merge(resolve_extends(parent_path, (*_chain, p)), raw)


def resolve_files(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """Map and CSV paths (``landscape.*_map``, ``lpc.sites``) made absolute, relative to
    the file that names them (as ``extends``; an experiment's ``set``: the experiment
    file); a missing file is a one-line error here."""
    for section, key in FILE_FIELDS:
        table = raw.get(section)
        value = table.get(key) if isinstance(table, dict) else None
        if not isinstance(value, str) or not value:
            continue  # absent, or the wrong type: validation says so
        target = path.parent / value
        if "\0" in value:
            raise ConfigError(str(path), f"{section}.{key}", "not a valid path (a NUL byte)")
        if not _exists(target):
            raise ConfigError(
                str(path), f"{section}.{key}", f"'{value}' not found (looked for {target})"
            )
        table[key] = str(target.absolute())
    return raw


def parse_set(assignment: str) -> tuple[str, Any]:
    """Parse ``dotted.path=VALUE`` (VALUE as a TOML value; bare words are strings)."""
    if "=" not in assignment:
        raise ConfigError("--set", assignment, "expected dotted.path=VALUE, e.g. grid.width=40")
    key, _, raw = assignment.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError("--set", assignment, "expected dotted.path=VALUE, e.g. grid.width=40")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
        if not value:
            raise ConfigError("--set", key, "missing VALUE after '='") from None
    except (ValueError, RecursionError) as exc:  # more than 4300 digits, deep nesting
        raise ConfigError("--set", key, f"bad VALUE: {str(exc).split(';')[0]}") from None
    return key, value


def _exists(path: Path) -> bool:
    """``path.exists()`` that treats an OS error (a symlink loop) as 'exists' so that the
    read reports it."""
    try:
        path.stat()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def flatten_dotted(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"lpc": {"count": x}}`` -> ``{"lpc.count": x}`` (TOML dotted keys nest): an
    experiment's ``[axes]`` and a sample's ``ranges``."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_dotted(value, path + "."))
        else:
            out[path] = value
    return out


def set_path(
    data: dict[str, Any], path: str, value: Any, *, source: str = "--set"
) -> dict[str, Any]:
    """A copy of a raw scenario dict with the field at a dotted ``path`` set to ``value``.

    The one setter behind ``--set``, experiment axes and samples, and the app's form. Lists
    are indexed by number (``shocks.0.at``); a missing table is created, a missing list is
    an error (its entries need their other fields).
    """
    parts = path.split(".")
    out = copy.deepcopy(data)
    node: Any = out
    for depth, part in enumerate(parts[:-1]):
        here = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            node = node[_index(part, here, len(node), source)]
        else:
            if part not in node:
                if part in ("donors", "shocks"):
                    raise ConfigError(
                        source, here, f"this scenario has no {part}; add them in the file first"
                    )
                node[part] = {}
            node = node[part]
        if not isinstance(node, dict | list):
            raise ConfigError(source, here, "is a value, not a table")
    last = parts[-1]
    if isinstance(node, list):
        node[_index(last, path, len(node), source)] = value
    else:
        node[last] = value
    return out


def apply_set(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``--set dotted.path=VALUE`` override to a raw scenario dict (a copy)."""
    path, value = parse_set(assignment)
    return set_path(data, path, value)


def _index(part: str, where: str, n: int, source: str) -> int:
    if not n:
        raise ConfigError(source, where, "this list is empty; add entries in the file first")
    if not part.isdigit() or int(part) >= n:
        raise ConfigError(source, where, f"index must be 0..{n - 1}")
    return int(part)


def with_default_lists(data: dict[str, Any]) -> dict[str, Any]:
    """Make ``--set donors.0.budget=...`` work on a file that leaves donors at default."""
    out = dict(data)
    if "donors" not in out:
        out["donors"] = [d.model_dump() for d in default_donors()]
    return out


_SECTIONS = {
    "": Scenario,
    "grid": GridConfig,
    "landscape": LandscapeConfig,
    "dynamics": DynamicsConfig,
    "lpc": LPCConfig,
    "council": CouncilConfig,
}


def _allowed_keys(data: dict[str, Any]):
    """Section path -> allowed keys, for the 'unknown key' message."""

    def allowed(section: str) -> list[str] | None:
        if section in _SECTIONS:
            return list(_SECTIONS[section].model_fields)
        head, _, idx = section.partition(".")
        if head == "donors":
            return list(DonorConfig.model_fields)
        if head == "shocks" and idx.isdigit():
            try:
                kind = data["shocks"][int(idx)]["kind"]
            except (KeyError, IndexError, TypeError):
                return None
            return list(SHOCK_CLASSES[kind].model_fields) if kind in SHOCK_CLASSES else None
        return None

    return allowed


def validate_scenario(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a raw dict into a :class:`Scenario`, raising a one-line ConfigError."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(
            source, exc, allowed_keys=_allowed_keys(data), tags=SHOCK_KINDS
        ) from None


def load_scenario(
    path: str | Path | None = None,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    **fields: Any,
) -> Scenario:
    """Load a scenario TOML file (following ``extends``) and apply overrides.

    Parameters
    ----------
    path : str or Path, optional
        The TOML file; ``None`` gives the default scenario.
    overrides : list of str
        ``dotted.path=VALUE`` assignments, as the CLI's ``--set``.
    **fields
        Top-level fields to replace (``steps=60``, ``seed=3``).

    Returns
    -------
    Scenario

    Raises
    ------
    ConfigError
        One line naming the file, the field and what is allowed.
    """
    source = str(path) if path is not None else "<default>"
    data: dict[str, Any] = resolve_extends(path) if path is not None else {}
    if path is not None and "name" not in data:
        data["name"] = Path(path).stem
    if overrides:
        data = with_default_lists(data)
        for assignment in overrides:
            data = apply_set(data, assignment)
    for key, value in fields.items():
        if value is not None:
            data[key] = value
    try:
        return validate_scenario(data, source)
    except ConfigError as err:
        if overrides and any(a.split("=", 1)[0].strip() == err.field for a in overrides):
            raise ConfigError("--set", err.field, err.message) from None
        raise


def scenario_from_dict(data: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a plain dict (e.g. from an experiment or the app) into a Scenario."""
    return validate_scenario(copy.deepcopy(data), source)
