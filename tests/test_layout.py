"""The tests stand on their own: the benchmarks may use the tests' helpers, never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local.template import ROOT

TEST_FILES = sorted((ROOT / "tests").rglob("*.py"))


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_test_imports_the_bench(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = [
        name
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    ]

    assert not [name for name in imported if name == "bench" or name.startswith("bench.")], (
        f"{path} imports bench/: move what it needs into tests/ (bench/ may import tests/)"
    )
