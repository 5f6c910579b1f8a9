"""README.md's table of routes and triggers is the API's: checked against docs/openapi.json (the
document the functions' resolvers generate) and template.yaml, never kept by hand alone."""

from __future__ import annotations

import json
import re

from local.template import ROOT, Template

ROW = re.compile(r"^\| `(?P<method>GET|POST|PATCH|PUT|DELETE) (?P<path>/[^`]*)` \| (?P<function>\w+) \|", re.MULTILINE)


def test_the_readmes_routes_are_the_documents_and_the_templates() -> None:
    rows = {(m["method"], m["path"]): m["function"] for m in ROW.finditer((ROOT / "README.md").read_text())}
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    routed = {(route.method, route.path): route.function for route in Template().routes()}

    assert set(rows) == documented, "README.md's route table and docs/openapi.json differ"
    assert rows == routed, "a README row names another function than template.yaml routes it to"
