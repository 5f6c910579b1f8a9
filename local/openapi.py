"""The OpenAPI 3.1 document of the template's routes, from the functions' own resolvers."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from local.runtime import base_python
from local.template import Function, Route

WORKER = Path(__file__).with_name("openapi_worker.py")
BEARER = "bearerAuth"


def _function_spec(functions: list[Function]) -> list[dict[str, str]]:
    return [
        {"code_uri": str(f.code_uri), "module": f.handler.rsplit(".", 1)[0]}
        for f in functions
        if f.routes  # only HTTP functions have a resolver to ask
    ]


def generate(functions: list[Function], environment: dict[str, str], routes: list[Route]) -> dict[str, Any]:
    """Import every HTTP function in a runtime-like process and merge what their resolvers describe."""
    with tempfile.TemporaryDirectory(prefix="nexus-openapi-") as folder:
        spec, out = Path(folder) / "functions.json", Path(folder) / "openapi.json"
        spec.write_text(json.dumps(_function_spec(functions)))
        subprocess.run(  # noqa: S603 - our own worker script
            [base_python(), "-S", "-s", str(WORKER), str(spec), str(out)],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
            check=True,
        )
        document: dict[str, Any] = json.loads(out.read_text())
    return finish(document, routes)


def finish(document: dict[str, Any], routes: list[Route]) -> dict[str, Any]:
    """Title, the bearer scheme, and security on exactly the routes behind the JWT authorizer."""
    document["openapi"] = document.get("openapi") or "3.1.0"
    document["info"] = {
        "title": "Nexus Serverless",
        "version": "local",
        "description": "The HTTP API of template.yaml (contract: API.md), as served by `make start`.",
    }
    document["servers"] = [{"url": "/"}]
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[BEARER] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for route in routes:
        operation = document.get("paths", {}).get(route.path, {}).get(route.method.lower())
        if operation is None:
            continue
        operation["security"] = [{BEARER: []}] if route.auth else []
        if route.auth:
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", {"description": "No bearer token, or not a JWT (the authorizer)"})
            responses.setdefault("403", {"description": "The token lacks the route's scope"})
        operation.setdefault("operationId", route.function)
    return document
