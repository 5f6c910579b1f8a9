"""nexus.deferred_inits: a package whose __init__ is deferred still imports everything, lazily."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.deferred_inits import defer_package_init


@pytest.fixture
def package(tmp_path: Path) -> Iterator[str]:
    """``heavy``: an __init__ that re-exports from two submodules and records that it ran."""
    root = tmp_path / "heavy"
    root.mkdir()
    (root / "__init__.py").write_text(
        "import sys\n"
        "sys.modules['heavy_init_ran'] = sys\n"
        "from .light import Light\n"
        "from heavy.costly import Costly as Renamed\n"
        "CONSTANT = 42\n"
    )
    (root / "light.py").write_text("from heavy import helper\nclass Light:\n    helper = helper\n")
    (root / "helper.py").write_text("VALUE = 1\n")
    (root / "costly.py").write_text("class Costly: ...\n")
    sys.path.insert(0, str(tmp_path))
    yield "heavy"
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == "heavy" or m.startswith("heavy.") or m == "heavy_init_ran"]:
        del sys.modules[name]


def test_a_submodule_imports_without_the_package_init(package: str) -> None:
    defer_package_init(package)

    from heavy.light import Light  # type: ignore[import-not-found]

    assert Light.helper.VALUE == 1  # `from heavy import helper`, a submodule, inside it
    assert "heavy_init_ran" not in sys.modules
    assert "heavy.costly" not in sys.modules


def test_a_name_the_init_re_exports_comes_from_its_own_submodule_only(package: str) -> None:
    defer_package_init(package)

    from heavy import Light, Renamed  # type: ignore[import-not-found]

    assert Light.__module__ == "heavy.light"
    assert Renamed.__name__ == "Costly"
    assert "heavy_init_ran" not in sys.modules


def test_any_other_name_runs_the_real_init_once(package: str) -> None:
    defer_package_init(package)
    import heavy  # type: ignore[import-not-found]

    assert heavy.CONSTANT == 42
    assert "heavy_init_ran" in sys.modules
    assert "__getattr__" not in vars(heavy)
    with pytest.raises(AttributeError):
        _ = heavy.missing


def test_a_package_already_imported_is_left_alone(package: str) -> None:
    import heavy  # type: ignore[import-not-found]

    defer_package_init(package)

    assert sys.modules[package] is heavy


def test_a_module_that_is_not_a_package_is_refused() -> None:
    with pytest.raises(ImportError, match="is not a package"):
        defer_package_init("nexus.no_such_package")
