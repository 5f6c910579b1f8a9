"""Save -> new code answers (issue 26, item 1): the local loop's hot reload against its baseline.

A `python -m local start` serves a copy of the project (devkit/project_copy.py). Each round
saves an edit that the next answer shows (a response header in functions/health/app.py; a check
name in layers/shared/nexus/operations/health.py), then asks GET /health until the answer shows
it: the time from the save to that answer. The baseline, measured in the same run and
interleaved: what the same edit cost before, stopping the server and starting it again up to
that answer (and losing the data).
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from devkit.local_server import LocalServer, start_server, stop_server
from devkit.project_copy import copy_environment, copy_project
from local.snapshot_file import DATA_DIR_ENV

HEALTH = Path("functions/health/app.py")
HEALTH_OPERATIONS = Path("layers/shared/nexus/operations/health.py")
GOAL_SECONDS = 1.0
WITHIN = 30.0


def _save(project: Path, name: Path, text: str) -> float:
    path = project / name
    partial = path.with_name(f".{path.name}.saving")
    partial.write_text(text)
    partial.replace(path)
    return time.monotonic()


def _function_edit(original: str, round_: int) -> str:
    return original.replace(
        "return json_response(200 if result.healthy else 503, result)",
        f'return json_response(200 if result.healthy else 503, result, headers={{"x-edit": "{round_}"}})',
    )


def _layer_edit(original: str, round_: int) -> str:
    return original.replace(
        'self._checks = {"users_table": users.ping, "cache": cache.ping}',
        f'self._checks = {{"users_table": users.ping, "cache": cache.ping, "edit_{round_}": lambda: None}}',
    )


def _shows_function_edit(server: LocalServer, round_: int) -> bool:
    return server.request("GET", "/health", scope=None).headers.get("x-edit") == str(round_)


def _shows_layer_edit(server: LocalServer, round_: int) -> bool:
    return f"edit_{round_}" in server.request("GET", "/health", scope=None).json().get("checks", {})


def _until(check: Any, since: float) -> float:
    while time.monotonic() - since < WITHIN:
        if check():
            return time.monotonic() - since
        time.sleep(0.01)
    raise TimeoutError(f"the edit did not show within {WITHIN} s")


def measure(rounds: int = 10) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        project = copy_project(Path(scratch) / "project")
        environment = copy_environment(project)
        logs = Path(scratch)
        originals = {name: (project / name).read_text() for name in (HEALTH, HEALTH_OPERATIONS)}
        server = start_server(logs / "reload.log", project=project, environment=environment)
        function_s: list[float] = []
        layer_s: list[float] = []
        restart_s: list[float] = []
        try:
            server.request("GET", "/health", scope=None)  # warm, as a developer's server is
            for round_ in range(1, rounds + 1):
                saved = _save(project, HEALTH, _function_edit(originals[HEALTH], round_))
                function_s.append(_until(lambda r=round_, s=server: _shows_function_edit(s, r), saved))
                saved = _save(project, HEALTH_OPERATIONS, _layer_edit(originals[HEALTH_OPERATIONS], round_))
                layer_s.append(_until(lambda r=round_, s=server: _shows_layer_edit(s, r), saved))
                # The baseline: the same function edit, then a restart (no reload) up to its answer.
                stop_server(server)
                saved = _save(project, HEALTH, _function_edit(originals[HEALTH], -round_))
                server = start_server(
                    logs / f"restart-{round_}.log", "--no-reload", project=project, environment=environment
                )
                restart_s.append(_until(lambda r=-round_, s=server: _shows_function_edit(s, r), saved))
                stop_server(server)
                server = start_server(logs / f"reload-{round_}.log", project=project, environment=environment)
                server.request("GET", "/health", scope=None)
        finally:
            stop_server(server)
    return {
        "rounds": rounds,
        "goal_s": GOAL_SECONDS,
        "function_edit_s": round(statistics.median(function_s), 3),
        "layer_edit_s": round(statistics.median(layer_s), 3),
        "restart_s": round(statistics.median(restart_s), 3),
        "samples": {"function": function_s, "layer": layer_s, "restart": restart_s},
        "persisted_start": persisted_start(),
    }


READY_GOAL_SECONDS = 5.0
PERSISTED_USERS = 200


def _ready_seconds(server: LocalServer) -> float:
    found = re.search(r"\(ready in ([0-9.]+) s\)", server.log.read_text())
    if found is None:
        raise RuntimeError(f"no banner in {server.log}")
    return float(found.group(1))


def persisted_start(rounds: int = 5) -> dict[str, Any]:
    """`make start`'s ready time (the banner's) with 200 users persisted, against an empty start,
    interleaved; the state is made once, through the API."""
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        persisted, empty = {DATA_DIR_ENV: str(base / "persisted")}, {DATA_DIR_ENV: str(base / "empty")}
        server = start_server(base / "seed.log", "--persist", environment=persisted)
        try:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda n: _sign_up(server, n), range(PERSISTED_USERS)))
        finally:
            stop_server(server)
        with_state: list[float] = []
        without: list[float] = []
        for round_ in range(rounds):
            for label, environment, samples in (("p", persisted, with_state), ("e", empty, without)):
                server = start_server(base / f"{label}{round_}.log", "--persist", environment=environment)
                samples.append(_ready_seconds(server))
                stop_server(server)
    return {
        "users": PERSISTED_USERS,
        "rounds": rounds,
        "goal_s": READY_GOAL_SECONDS,
        "persisted_s": round(statistics.median(with_state), 3),
        "empty_s": round(statistics.median(without), 3),
    }


def _sign_up(server: LocalServer, number: int) -> None:
    name = f"persisted_{number}"
    answer = server.request("POST", "/users", json_body={"username": name, "email": f"{name}@example.com"})
    if answer.status != 201:
        raise RuntimeError(f"sign-up {number}: {answer.status} {answer.body[:200]!r}")


def print_reload(results: dict[str, Any]) -> None:
    print(
        f"\nHot reload: save -> the new code answers, median of {results['rounds']} saves"
        f" (goal <= {results['goal_s']} s)"
    )
    for label, key in (("functions/health/app.py", "function_edit_s"), ("layers/shared/nexus/...", "layer_edit_s")):
        ratio = results[key] / results["restart_s"]
        verdict = "met" if results[key] <= results["goal_s"] else "missed"
        print(
            f"  {label:28} {results[key]:6.3f} s  ({ratio:.2f} x a restart's {results['restart_s']:.3f} s)  {verdict}"
        )
    start = results.get("persisted_start")
    if start:
        verdict = "met" if start["persisted_s"] < start["goal_s"] else "missed"
        print(
            f"make start --persist ready with {start['users']} users: {start['persisted_s']:.3f} s"
            f" ({start['persisted_s'] / start['empty_s']:.2f} x an empty start's {start['empty_s']:.3f} s),"
            f" median of {start['rounds']} (goal < {start['goal_s']} s)  {verdict}"
        )
