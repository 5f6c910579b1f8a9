"""The OpenAPI 3.1 document of the template's routes, from the functions' own resolvers."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.runtime_dir import base_python
from local.template import Function, Route

if TYPE_CHECKING:
    from local.functions import Functions

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
        done = subprocess.run(  # noqa: S603 - our own worker script
            [base_python(), "-S", "-s", str(WORKER), str(spec), str(out)],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the OpenAPI worker failed:\n{done.stderr.decode(errors='replace')[-4000:]}")
        document: dict[str, Any] = json.loads(out.read_text())
    return finish(document, routes)


DESCRIPTION = (
    "The HTTP API of template.yaml, as API Gateway and its functions answer it. The contract, in "
    "words: [docs/API.md](/docs/API.md) (`docs/API.md` in the repository; `make start` serves it "
    "at `/docs/API.md`). Every route but `GET /health` needs a bearer token (the JWT "
    "authorizer) with the scope its `security` names. API Gateway itself answers a path or method "
    'that no route takes with `404 {"message": "Not Found"}`, throttling with `429 {"message": '
    '"Too Many Requests"}`, and an integration that does not answer in 30 s with `503 {"message": '
    '"Service Unavailable"}`.'
)


def finish(document: dict[str, Any], routes: list[Route]) -> dict[str, Any]:
    """Title, the bearer scheme, and only the schemas the operations use.

    Each operation's security (with its scope) comes from its function's resolver; it must agree
    with the template: the routes behind the JWT authorizer, and only those, have one.
    """
    document["openapi"] = document.get("openapi") or "3.1.0"
    document["info"] = {"title": "Nexus Serverless", "version": "1.0.0", "description": DESCRIPTION}
    document["servers"] = [{"url": "/"}]
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from the configured issuer; each operation names the scope it needs",
    }
    for route in routes:
        operation = document.get("paths", {}).get(route.path, {}).get(route.method.lower())
        if operation is None:
            continue
        if bool(operation.get("security")) != route.auth:
            raise ValueError(f"{route.route_key}: the function's scope and the template's authorizer disagree")
    _drop_unused_schemas(document)
    return document


def _references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_references(value) for value in node))
    return set()


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Powertools lists its own HTTPValidationError and ValidationError in every document; ours
    answers API.md's error body instead, so only what the paths reach (transitively) is kept."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    used, pending = set(), _references(document.get("paths", {}))
    while pending:
        name = pending.pop()
        if name not in used and name in schemas:
            used.add(name)
            pending |= _references(schemas[name])
    for name in set(schemas) - used:
        del schemas[name]


def openapi_text(document: dict[str, Any]) -> str:
    """The document as `make openapi` commits it (docs/openapi.json) and the server serves it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def document(functions: Functions, routes: list[Route]) -> dict[str, Any]:
    """The document of these functions, each imported with the environment the template gives it."""
    environment: dict[str, str] = {}
    for function in functions.definitions.values():
        environment.update(functions.environment(function))
    return generate(list(functions.definitions.values()), environment, routes)


def write(out: str) -> int:
    """`make openapi`: the document from the functions' resolvers, over an embedded emulated AWS
    (the functions read their configuration at import, as at a cold start)."""
    from local.emulated_aws import EmulatedAws
    from local.functions import Functions
    from local.runtime_dir import prepared_runtime
    from local.template import Template

    template = Template()
    runtime = prepared_runtime()
    if runtime is None:
        return 2
    runtime_dir, layer_dir, rie = runtime
    aws = EmulatedAws(template).start()
    try:
        text = openapi_text(document(Functions(template, aws, rie, runtime_dir, layer_dir), template.routes()))
    finally:
        aws.stop()
    if out == "-":
        sys.stdout.write(text)
    else:
        Path(out).write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    return 0
