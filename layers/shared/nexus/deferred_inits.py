"""Importing a library's submodule without running its package's ``__init__``. Two of Powertools'
package ``__init__``s (``event_handler``, ``utilities.data_classes``) import everything they hold
where a function uses one or two parts of it; ``nexus/__init__.py`` defers both.

docs/decisions.md, "Powertools' `event_handler` and `data_classes` packages are imported without their `__init__`".
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any


def defer_package_init(name: str) -> None:
    """Put package ``name`` in ``sys.modules`` with its ``__init__`` not run.

    Submodules import as usual. A name the ``__init__`` re-exports (``from name import
    Response``, which Powertools' own modules do) is read from the submodule the ``__init__``
    imports it from, and only that one is imported. Any other attribute runs the real
    ``__init__`` first, so everything still works, some of it later. A package already
    imported is left as it is.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.origin is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not a package", name=name)
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader
    exported = _names_imported_by(spec.origin, name)

    def deferred_getattr(attribute: str) -> Any:
        if attribute in exported:
            module, original = exported[attribute]
            value = getattr(importlib.import_module(module), original)
        elif not attribute.startswith("__") and importlib.util.find_spec(f"{name}.{attribute}") is not None:
            value = importlib.import_module(f"{name}.{attribute}")  # `from name import submodule`
        else:
            _run_init(package, loader)
            return getattr(package, attribute)
        setattr(package, attribute, value)
        return value

    setattr(package, "__getattr__", deferred_getattr)  # noqa: B010 - PEP 562, on a module object
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, package)


def _names_imported_by(init: str, package: str) -> dict[str, tuple[str, str]]:
    """``{exported name: (module, name there)}`` for the ``from`` imports of ``package``'s ``__init__``."""
    names: dict[str, tuple[str, str]] = {}
    with open(init, "rb") as source:
        tree = ast.parse(source.read(), init)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.util.resolve_name("." * node.level + node.module, package) if node.level else node.module
            for alias in node.names:
                names[alias.asname or alias.name] = (module, alias.name)
    return names


def _run_init(package: ModuleType, loader: Any) -> None:
    if "__getattr__" in vars(package):
        delattr(package, "__getattr__")
        loader.exec_module(package)
