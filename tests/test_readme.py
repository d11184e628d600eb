"""The README's Python example runs as written (on a small grid, for speed)."""

from __future__ import annotations

import re

from conftest import ROOT


def test_readme_python_example_runs(monkeypatch) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has a Python example"
    code = blocks[0].replace('"grid.width=40"', '"grid.width=16", "grid.height=16"')
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["sim"].steps_done == namespace["scenario"].steps
    assert namespace["tension"].dtype.name == "float32"
