"""Who may import whom: the tests and the bench share devkit/; devkit imports neither, the tests
never import the bench, and nothing imports a conftest (fixtures reach tests through pytest)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local.template import ROOT

CHECKED = sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "devkit").rglob("*.py"), *(ROOT / "bench").rglob("*.py")])


def _imported(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        name
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or "", *(f"{node.module}.{alias.name}" for alias in node.names)]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    ]


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


@pytest.mark.parametrize("path", CHECKED, ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_go_one_way(path: Path) -> None:
    imported = _imported(path)
    top = path.relative_to(ROOT).parts[0]

    assert not [name for name in imported if name.endswith("conftest")], (
        f"{path}: import helpers from devkit/, not from a conftest (its fixtures come through pytest)"
    )
    if top in ("tests", "devkit"):
        assert not [name for name in imported if _under(name, "bench")], f"{path} imports bench/: move it to devkit/"
    if top in ("devkit", "bench"):
        assert not [name for name in imported if _under(name, "tests")], (
            f"{path} imports tests/: what the tests and the bench share lives in devkit/"
        )


TOOL_MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for package in ("local", "devkit", "bench")
    for path in (ROOT / package).glob("*.py")
    if path.stem != "__main__"
)


@pytest.mark.parametrize("module", TOOL_MODULES)
def test_every_tool_module_imports(module: str) -> None:
    """A name moved between modules breaks even the modules no other test runs (make bench's parts)."""
    import importlib

    importlib.import_module(module)
