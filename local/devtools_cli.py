"""`python -m local faults ...` and `python -m local invariants`: the running server's developer
endpoints from a terminal (local.devtools), found through .build/local-endpoint.json."""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import quote

from local.endpoint import ServerUnreachable, call_running


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]] | None:
    try:
        return call_running(method, path, body)
    except ServerUnreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def _print(answer: tuple[int, dict[str, Any]] | None) -> int:
    if answer is None:
        return 2
    status, document = answer
    if status >= 400:
        print(f"error: {document.get('message', status)}", file=sys.stderr)
        return 2
    print(json.dumps(document, indent=2))
    return 0


def faults(action: str, name: str | None, rate: float, function: str | None, seconds: float) -> int:
    if action == "list":
        return _print(_call("GET", "/_local/faults"))
    if action == "off":
        return _print(_call("DELETE", "/_local/faults" + (f"/{quote(name)}" if name else "")))
    if name is None:
        print("error: `faults on` needs the fault's name (`python -m local faults list`)", file=sys.stderr)
        return 2
    body: dict[str, Any] = {"name": name, "rate": rate, "seconds": seconds}
    if function:
        body["function"] = function
    return _print(_call("POST", "/_local/faults", body))


def invariants() -> int:
    answer = _call("GET", "/_local/invariants")
    if answer is None or answer[0] >= 400:
        return _print(answer)
    document = answer[1]
    for broken in document["broken"]:
        print(f"BROKEN {broken['rule']}: {broken['detail']}")
    for skipped in document.get("skipped", []):
        print(f"skipped {skipped}")
    print("every rule holds" if document["ok"] else f"{len(document['broken'])} broken")
    return 0 if document["ok"] else 1
