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


COMPOSITE = re.compile(r"^\| [^|]+ \| (?P<function>\w+Function) \| `(?P<composite>\w+)\.(?P<method>\w+)`", re.MULTILINE)


def test_each_row_names_the_composite_its_function_builds_and_a_method_of_it() -> None:
    functions = Template().functions()
    rows = [m.groupdict() for m in COMPOSITE.finditer((ROOT / "README.md").read_text())]
    assert {row["function"] for row in rows} == set(functions), "README.md's table lists every function once"

    for row in rows:
        handler = functions[row["function"]].code_uri / "app.py"
        source = handler.read_text()
        built = re.search(r"^(?:app = create_app|handler = event_entrypoint)\((\w+)", source, re.MULTILINE)
        assert built is not None, handler
        assert built[1] == row["composite"], f"README.md: {row['function']} builds {built[1]}, not {row['composite']}"
        module = re.search(rf"^from (nexus\.operations\.\w+) import .*\b{built[1]}\b", source, re.MULTILINE)
        assert module is not None, handler
        composite = getattr(__import__(module[1], fromlist=[built[1]]), built[1])
        assert callable(getattr(composite, row["method"], None)), f"README.md: {built[1]} has no {row['method']}"
