"""Run in the functions' runtime (no dev venv): import each function, merge its resolver's OpenAPI.

Usage: python -S openapi_worker.py SPEC.json OUT.json, where SPEC.json lists
``[{"code_uri": ..., "module": ...}]``. The result goes to a file: the functions log on stdout.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any


def _load(code_uri: str, module: str, index: int) -> Any:
    sys.path.insert(0, code_uri)
    try:
        spec = importlib.util.spec_from_file_location(f"function_{index}", Path(code_uri) / f"{module}.py")
        assert spec is not None
        assert spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return loaded
    finally:
        sys.path.remove(code_uri)


def _merge(document: dict[str, Any], part: dict[str, Any]) -> None:
    for path, operations in part.get("paths", {}).items():
        document.setdefault("paths", {}).setdefault(path, {}).update(operations)
    for kind, entries in part.get("components", {}).items():
        document.setdefault("components", {}).setdefault(kind, {}).update(entries)


def _drop_default_validation_error(part: dict[str, Any]) -> None:
    """Powertools documents a 422 with its own HTTPValidationError body on every route. Ours answer
    API.md's error body, and a route lists the 422 in its ``responses`` where one can happen."""
    for operations in part.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            if "HTTPValidationError" in json.dumps(answer):
                del operation["responses"]["422"]


def main(spec_path: str, out_path: str) -> None:
    document: dict[str, Any] = {}
    for index, function in enumerate(json.loads(Path(spec_path).read_text())):
        app = getattr(_load(function["code_uri"], function["module"], index), "app", None)
        if app is None or not hasattr(app, "get_openapi_json_schema"):
            continue  # not an HTTP function
        part = json.loads(app.get_openapi_json_schema())
        _drop_default_validation_error(part)
        document.setdefault("openapi", part.get("openapi"))
        _merge(document, part)
    Path(out_path).write_text(json.dumps(document))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
