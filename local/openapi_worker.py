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


def _add_request_bodies(document: dict[str, Any]) -> None:
    """Turn each route's request-body extension (``nexus.api.docs.request_body``) into a requestBody."""
    from pydantic.json_schema import models_json_schema

    from nexus.api.docs import REQUEST_BODY_EXTENSION, request_models

    used: set[str] = set()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            name = operation.pop(REQUEST_BODY_EXTENSION, None)
            if name is None:
                continue
            used.add(name)
            schema = {"$ref": f"#/components/schemas/{name}"}
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    models = [(request_models[name], "validation") for name in sorted(used)]
    _, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    document.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))


def main(spec_path: str, out_path: str) -> None:
    document: dict[str, Any] = {}
    for index, function in enumerate(json.loads(Path(spec_path).read_text())):
        app = getattr(_load(function["code_uri"], function["module"], index), "app", None)
        if app is None or not hasattr(app, "get_openapi_json_schema"):
            continue  # not an HTTP function
        part = json.loads(app.get_openapi_json_schema())
        document.setdefault("openapi", part.get("openapi"))
        _merge(document, part)
    _add_request_bodies(document)
    Path(out_path).write_text(json.dumps(document))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
