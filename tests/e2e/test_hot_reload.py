"""Hot reload (issue 26, item 1), over real HTTP against `python -m local start` serving a copy of
the project (devkit/project_copy.py), whose files the tests save as an editor would.

A saved change is live on the next request for the functions it affects, the emulated AWS's
data stays, a syntax or import error answers that function's routes with a 500 naming the file
and line while the server keeps running, and a template change reloads routes and says what
needs a restart. How fast a save is live is measured by `make bench` (bench/reload.py), not here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.local_server import LocalServer, eventually, start_server, stop_server
from devkit.project_copy import copy_environment, copy_project

HEALTH = Path("functions/health/app.py")
HEALTH_OPERATIONS = Path("layers/shared/nexus/operations/health.py")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def reloading(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    log = tmp_path_factory.mktemp("reload") / "server.log"
    running = start_server(log, project=project, environment=copy_environment(project))
    yield running
    stop_server(running)


def save(project: Path, name: Path, text: str) -> None:
    """Write as an editor does: the whole file at once, its mtime moving on."""
    path = project / name
    partial = path.with_name(f".{path.name}.saving")
    partial.write_text(text)
    partial.replace(path)


def _health(server: LocalServer) -> tuple[int, Any]:
    answer = server.request("GET", "/health", scope=None)
    return answer.status, answer.json()


def test_a_saved_function_is_live_on_the_next_request_and_the_data_stays(project: Path, reloading: LocalServer) -> None:
    name = f"keep_{uuid.uuid4().hex[:8]}"
    user = reloading.request("POST", "/users", json_body={"username": name, "email": f"{name}@example.com"}).json()
    assert _health(reloading)[0] == 200
    original = (project / HEALTH).read_text()
    assert _health(reloading)[0] == 200
    colds = reloading.log.read_text().count("GET /health 200 HealthFunction cold")

    save(project, HEALTH, original.replace('"""Check the service\'s health.', '"""Check the health (edited).'))
    # The docstring is the route's OpenAPI text: an edit there is the cheapest visible change.
    assert eventually(lambda: "reload: functions/health/app.py -> HealthFunction" in reloading.log.read_text())
    assert _health(reloading)[0] == 200
    assert reloading.log.read_text().count("GET /health 200 HealthFunction cold") == colds + 1  # the new code
    # Another function's warm worker was not touched; the user is still there.
    assert reloading.request("GET", f"/users/{user['id']}").status == 200
    save(project, HEALTH, original)


def test_a_saved_layer_module_is_live_in_every_function_that_uses_it(project: Path, reloading: LocalServer) -> None:
    original = (project / HEALTH_OPERATIONS).read_text()
    edited = original.replace(
        'self._checks = {"users_table": users.ping, "cache": cache.ping}',
        'self._checks = {"users_table": users.ping, "cache": cache.ping, "edited": lambda: None}',
    )
    assert edited != original

    save(project, HEALTH_OPERATIONS, edited)
    try:
        checks = eventually(lambda: _health(reloading)[1].get("checks", {}).get("edited"))
        assert checks == "ok"
    finally:
        save(project, HEALTH_OPERATIONS, original)
    assert eventually(lambda: "edited" not in _health(reloading)[1].get("checks", {"edited": 1}))


@pytest.mark.parametrize(
    ("name", "breaking", "line"),
    [
        (HEALTH, lambda text: text.replace("app = create_app(HealthCheck, scope=None)", "app = create_app(\n"), None),
        (
            HEALTH_OPERATIONS,
            lambda text: text.replace("class HealthCheck(Service):", "class HealthCheck(Service)"),
            None,
        ),
        (
            HEALTH,
            lambda text: text.replace(
                "from nexus.api.docs import responses", "from nexus.api.docs import nothing_here"
            ),
            None,
        ),
    ],
    ids=["syntax-in-function", "syntax-in-layer", "import-in-function"],
)
def test_a_broken_save_names_the_file_and_line_and_the_next_good_save_fixes_it(
    project: Path, reloading: LocalServer, name: Path, breaking: Callable[[str], str], line: int | None
) -> None:
    original = (project / name).read_text()
    broken = breaking(original)
    assert broken != original
    expected_line = _first_difference(original, broken)

    save(project, name, broken)
    try:
        answer = eventually(lambda: (a := reloading.request("GET", "/health", scope=None)).status == 500 and a)
        assert answer, "the broken save was not picked up"
        body = answer.json()
        assert body["message"] == "Internal Server Error"
        assert body["local"]["file"] == str(name)
        assert abs(body["local"]["line"] - expected_line) <= 1, body  # SyntaxError points at or after the change
        assert body["local"]["error"].split(":")[0] in ("SyntaxError", "ImportError", "'(' was never closed")
        # The server keeps running: another function answers.
        assert reloading.request("GET", "/users?limit=1").status == 200
    finally:
        save(project, name, original)
    assert eventually(lambda: _health(reloading)[0] == 200)


def test_a_template_change_reloads_routes_and_names_what_needs_a_restart(project: Path, reloading: LocalServer) -> None:
    template = project / "template.yaml"
    original = template.read_text()
    edited = original.replace("            Path: /health\n", "            Path: /healthz\n", 1).replace(
        "      PointInTimeRecoverySpecification:",
        "      Tags: [{Key: edited, Value: 'yes'}]\n      PointInTimeRecoverySpecification:",
        1,
    )
    assert edited.count("/healthz") == 1
    assert "Key: edited" in edited

    save(project, Path("template.yaml"), edited)
    try:
        assert eventually(lambda: "reload: template.yaml -> HealthFunction" in reloading.log.read_text())
        # The gateway now sends /healthz to the function (whose own resolver knows /health only: a
        # 404 from the function), and /health to nobody (API Gateway's 404).
        assert reloading.request("GET", "/healthz", scope=None).status == 404
        assert reloading.request("GET", "/health", scope=None).status == 404
        log = reloading.log.read_text()
        assert "GET /healthz 404 HealthFunction cold" in log
        assert "GET /health 404 - -" in log
        restart = [line for line in log.splitlines() if "reload: template.yaml: restart `make start` to apply" in line]
        assert restart == ["reload: template.yaml: restart `make start` to apply UsersTable"]
    finally:
        save(project, Path("template.yaml"), original)
    assert eventually(lambda: reloading.request("GET", "/health", scope=None).status == 200)


def _first_difference(before: str, after: str) -> int:
    for number, (old, new) in enumerate(zip(before.splitlines(), after.splitlines(), strict=False), start=1):
        if old != new:
            return number
    return min(len(before.splitlines()), len(after.splitlines())) + 1
