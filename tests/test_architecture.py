"""The package's layering (DESIGN section 5), checked on the import graph of the source.

Every ``import`` of a package module counts, function-local ones included (they are still
dependencies); only imports under ``if TYPE_CHECKING:`` are left out.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "i4p_sim"
#: "about 500 lines" a module; a little slack so a docstring does not fail the build.
MAX_LINES = 550


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    """Package modules that ``module`` imports (``from pkg import sub`` -> the submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            if target.startswith("i4p_sim"):
                resolved = _resolve(target)
                if resolved and resolved != module:
                    found.add(resolved)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _parents(module: str) -> set[str]:
    """Packages whose ``__init__`` runs when ``module`` is imported."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))} & set(MODULES)


def test_no_import_cycles() -> None:
    cycles = [m for m in GRAPH if m in _reachable(m)]
    assert not cycles, f"modules on an import cycle: {sorted(cycles)}"


def test_core_imports_nothing_from_the_package() -> None:
    for module, deps in GRAPH.items():
        if module.startswith("i4p_sim.core"):
            outside = {d for d in deps if not d.startswith("i4p_sim.core")}
            assert not outside - {"i4p_sim"}, f"{module} imports {sorted(outside)}"


@pytest.mark.parametrize("layer", ["i4p_sim.report", "i4p_sim.stats"])
def test_layer_never_reaches_the_model(layer: str) -> None:
    for module in GRAPH:
        if module == layer or module.startswith(layer + "."):
            reached = _reachable(module) | {
                p for r in _reachable(module) | {module} for p in _parents(r)
            }
            sim = sorted(r for r in reached if r.startswith("i4p_sim.sim"))
            assert not sim, f"{module} reaches {sim}"


def test_stats_depends_on_core_only() -> None:
    for module, deps in GRAPH.items():
        if module.startswith("i4p_sim.stats"):
            bad = {d for d in deps if not d.startswith(("i4p_sim.stats", "i4p_sim.core"))}
            assert not bad - {"i4p_sim"}, f"{module} imports {sorted(bad)}"


def test_no_module_is_much_over_500_lines() -> None:
    long = {
        m: n
        for m, p in MODULES.items()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_importing_the_report_does_not_load_mesa_or_the_model() -> None:
    code = (
        "import sys, i4p_sim.report, i4p_sim.stats.metrics, i4p_sim.sweep.store;"
        "bad = sorted(m for m in sys.modules if m.startswith(('i4p_sim.sim', 'mesa')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _geo_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, at module level) of each import of ``i4p_sim.geo`` in a source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        if any(n == "i4p_sim.geo" or n.startswith("i4p_sim.geo.") for n in names):
            found.append((node.lineno, id(node) in top))
    return found


def test_the_geo_layer_is_imported_only_lazily_and_only_by_config_sim_and_the_cli() -> None:
    """rasterio is optional (the ``geo`` extra): nothing may import ``i4p_sim.geo`` at
    module level, core never, and only the configuration, the model and the CLI at all."""
    allowed = ("i4p_sim.config", "i4p_sim.sim", "i4p_sim.cli")
    for module, path in MODULES.items():
        if module.startswith("i4p_sim.geo"):
            continue
        for line, at_top in _geo_imports(path):
            where = f"{module}:{line}"
            assert not at_top, f"{where} imports i4p_sim.geo at module level"
            assert module.startswith(allowed), f"{where} imports i4p_sim.geo"
    # and the geo package itself imports rasterio only where a map is read or written
    init = (PACKAGE / "geo" / "__init__.py").read_text(encoding="utf-8")
    assert "import rasterio" not in init.replace("        import rasterio", "")
