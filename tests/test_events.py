"""Every file in events/ through `python -m local invoke`, as `sam local invoke -e` would run it.

Each invocation is a separate process running the function in the Runtime Interface Emulator on
the built layer (``make layer``), with the template's environment, against a moto server this
session starts. Every test but the lifecycle starts from an empty stack (moto reset), so the
files must work in any order: on an empty stack a user id or username that does not exist
answers 404, which is what the get/update/delete/by-username files expect there. The lifecycle
test then creates the user with create_user.json and substitutes its id into the other files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.invoke import env_var_overrides
from local.runtime import LambdaWorker, free_port, lambda_environment
from local.runtime_dir import ensure_runtime_dir, find_rie
from local.template import ROOT, Function, Template
from local.tokens import ALL_SCOPES

EVENTS = ROOT / "events"
PLACEHOLDER_ID = "01JD0000000000000000000000"

# event file -> (function, status on an empty stack); None: a stream or queue batch, answered with
# the partial batch response (on an empty stack the queued user is gone: dropped, not failed);
# HOOK_ERROR: CodeDeploy's hook, whose report of a deployment that does not exist is refused.
HOOK_ERROR = "hook error"
EXPECTED: dict[str, tuple[str, int | str | None]] = {
    "create_user.json": ("CreateUserFunction", 201),
    "get_user.json": ("GetUserFunction", 404),
    "get_user_by_username.json": ("GetUserByUsernameFunction", 404),
    "update_user.json": ("UpdateUserFunction", 404),
    "delete_user.json": ("DeleteUserFunction", 404),
    "list_users.json": ("ListUsersFunction", 200),
    "health.json": ("HealthFunction", 200),
    "track_events.json": ("TrackEventsFunction", 202),
    "event_stats.json": ("EventStatsFunction", 200),
    "user_stats.json": ("UserStatsFunction", 200),
    "count_events.json": ("CountEventsFunction", None),
    "send_welcome_email.json": ("SendWelcomeEmailFunction", None),
    "publish_webhooks.json": ("PublishWebhooksFunction", None),
    "pre_traffic_hook.json": ("PreTrafficHookFunction", HOOK_ERROR),
}


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode, in its own process so no in-process mock_aws can touch its state."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(endpoint: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1).close()  # noqa: S310
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"moto did not answer on {endpoint}")


@pytest.fixture
def empty_stack(moto_endpoint: str) -> str:
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
    return moto_endpoint


def invoke(
    endpoint: str, function: str, payload: dict[str, Any], tmp_path: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    """Run the CLI in a subprocess; return its exit code and the result it printed."""
    path = tmp_path / f"{function}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(payload))
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "local", "invoke", function, "-e", str(path), *extra],
        cwd=ROOT,
        env={**os.environ, "AWS_ENDPOINT_URL": endpoint},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.stdout, f"no result printed; stderr:\n{completed.stderr[-3000:]}"
    return completed.returncode, json.loads(completed.stdout)


def body(result: dict[str, Any]) -> Any:
    return json.loads(result["body"]) if result.get("body") else None


def test_every_function_has_an_event_file_and_every_file_is_tested(template: Template) -> None:
    files = {path.name for path in EVENTS.glob("*.json")}
    assert files == set(EXPECTED)
    assert {function for function, _ in EXPECTED.values()} == set(template.functions())


@pytest.mark.parametrize("name", sorted(n for n, (_, status) in EXPECTED.items() if isinstance(status, int)))
def test_http_event_matches_its_route_and_grants_every_scope(name: str, template: Template) -> None:
    function, _ = EXPECTED[name]
    payload = event(name)
    (route,) = template.functions()[function].routes
    assert payload["version"] == "2.0"
    assert payload["routeKey"] == payload["requestContext"]["routeKey"] == route.route_key
    assert payload["requestContext"]["http"]["method"] == route.method
    assert set(payload["pathParameters"]) == set(route.path.replace("}", "{").split("{")[1::2])
    if route.auth:
        claims = payload["requestContext"]["authorizer"]["jwt"]["claims"]
        assert set(claims["scope"].split()) == set(ALL_SCOPES.split())
    else:
        assert "authorizer" not in payload["requestContext"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_on_an_empty_stack(name: str, empty_stack: str, tmp_path: Path) -> None:
    function, status = EXPECTED[name]
    code, result = invoke(empty_stack, function, event(name), tmp_path)
    assert code == (1 if status == HOOK_ERROR else 0), result  # the CLI exits 1 on a function error
    if status is None:
        assert result == {"batchItemFailures": []}
        return
    if status == HOOK_ERROR:
        # It started on its template environment and checked; only the report had no deployment.
        assert result["errorType"] == "ClientError", result
        assert "PutLifecycleEventHookExecutionStatus" in result["errorMessage"], result
        return
    assert isinstance(status, int)
    assert result["statusCode"] == status, result
    if status == 404:
        assert body(result)["error"]["code"] == "not_found"


def _with_user_id(payload: dict[str, Any], user_id: str) -> dict[str, Any]:
    text = json.dumps(payload).replace(PLACEHOLDER_ID, user_id)
    return dict(json.loads(text))


def test_user_lifecycle_through_the_event_files(empty_stack: str, tmp_path: Path) -> None:
    _, created = invoke(empty_stack, "CreateUserFunction", event("create_user.json"), tmp_path)
    assert created["statusCode"] == 201, created
    user = body(created)
    assert created["headers"]["Location"] == f"/users/{user['id']}"

    _, found = invoke(empty_stack, "GetUserFunction", _with_user_id(event("get_user.json"), user["id"]), tmp_path)
    assert (found["statusCode"], body(found)) == (200, user)

    _, by_name = invoke(empty_stack, "GetUserByUsernameFunction", event("get_user_by_username.json"), tmp_path)
    assert (by_name["statusCode"], body(by_name)["id"]) == (200, user["id"])

    update = _with_user_id(event("update_user.json"), user["id"])
    _, updated = invoke(empty_stack, "UpdateUserFunction", update, tmp_path)
    assert updated["statusCode"] == 200, updated
    assert body(updated)["full_name"] == json.loads(update["body"])["full_name"]

    _, listed = invoke(empty_stack, "ListUsersFunction", event("list_users.json"), tmp_path)
    assert [item["id"] for item in body(listed)["items"]] == [user["id"]]

    delete = _with_user_id(event("delete_user.json"), user["id"])
    _, deleted = invoke(empty_stack, "DeleteUserFunction", delete, tmp_path)
    assert deleted["statusCode"] == 204, deleted
    _, gone = invoke(empty_stack, "GetUserFunction", _with_user_id(event("get_user.json"), user["id"]), tmp_path)
    assert gone["statusCode"] == 404


def test_env_vars_file_overrides_the_template(empty_stack: str, tmp_path: Path) -> None:
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({"ListUsersFunction": {"CURSOR_SIGNING_SECRET_ARN": "not a secret id"}}))
    code, result = invoke(
        empty_stack, "ListUsersFunction", event("list_users.json"), tmp_path, "--env-vars", str(env_vars)
    )
    # A malformed secret id fails the settings at cold start: the function errors as in AWS.
    assert code == 1
    assert "CURSOR_SIGNING_SECRET_ARN" in json.dumps(result)


def test_env_vars_only_override_what_the_template_declares(template: Template, tmp_path: Path) -> None:
    env_vars = tmp_path / "env.json"
    env_vars.write_text(
        json.dumps({"Parameters": {"LOG_LEVEL_X": "1", "POWERTOOLS_LOG_LEVEL": "DEBUG"}, "GetUserFunction": {}})
    )
    overrides = env_var_overrides(str(env_vars), template.functions()["GetUserFunction"])
    assert overrides == {"POWERTOOLS_LOG_LEVEL": "DEBUG"}


# The runtime itself: isolation like Lambda's, and the Timeout enforced.
PROBE = textwrap.dedent(
    """
    import importlib.util, sys, time

    def handler(event, context):
        if event.get("sleep"):
            time.sleep(event["sleep"])
        found = {name: importlib.util.find_spec(name) is not None for name in event.get("modules", [])}
        return {"path": sys.path, "found": found, "remaining": context.get_remaining_time_in_millis(),
                "memory": context.memory_limit_in_mb, "name": context.function_name}
    """
)


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[LambdaWorker]:
    (tmp_path / "app.py").write_text(PROBE)
    function = Function("ProbeFunction", tmp_path, "app.handler", timeout=2, memory_size=256)
    environment = lambda_environment(
        function, {}, "http://127.0.0.1:9", ensure_runtime_dir(), ROOT / ".build" / "layer" / "python"
    )
    worker = LambdaWorker(function, environment, find_rie())
    yield worker
    worker.stop()


def test_function_sees_its_code_the_layer_and_the_runtime_only(probe: LambdaWorker) -> None:
    modules = ["boto3", "botocore", "nexus", "pydantic", "pytest", "moto", "yaml", "local"]
    result = probe.invoke({"modules": modules})
    assert result.cold
    assert not result.failed
    found = result.payload["found"]
    assert {name for name, present in found.items() if present} == {"boto3", "botocore", "nexus", "pydantic"}
    assert not any("site-packages" in entry for entry in result.payload["path"])
    # The Lambda context gives the memory size as a string.
    assert (result.payload["name"], result.payload["memory"]) == ("ProbeFunction", "256")
    assert 1000 < result.payload["remaining"] <= 2000


def test_worker_stays_warm_and_the_timeout_is_enforced(probe: LambdaWorker) -> None:
    assert probe.invoke({}).cold
    assert not probe.invoke({}).cold
    timed_out = probe.invoke({"sleep": 5})
    assert timed_out.failed
    assert timed_out.duration_ms < 4500
    recovered = probe.invoke({})
    assert not recovered.failed
    assert recovered.cold
