"""State that survives: `start --persist` across restarts, and named snapshots (`python -m local snapshot`).

Every server here keeps its state and snapshots under its test's own directory ($LOCAL_DATA_DIR),
never the clone's .build.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devkit.local_server import LocalServer, local_command, start_server, stop_server
from local.account import REGION
from local.endpoint import ENDPOINT_FILE_ENV
from local.runtime import free_port
from local.template import ROOT
from nexus.webhooks import SIGNATURE_HEADER, verify

DATA_DIR_ENV = "LOCAL_DATA_DIR"
WAIT_SECONDS = 30.0


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def new_user(server: LocalServer, **fields: object) -> dict[str, Any]:
    name = unique("user")
    response = server.request("POST", "/users", json_body={"username": name, "email": f"{name}@example.com", **fields})
    assert response.status == 201, response.body
    return dict(response.json())


def wait_for(condition: Callable[[], Any], what: str, seconds: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


def start(data_dir: Path, log: Path, *arguments: str, through_make: bool = False) -> LocalServer:
    return start_server(log, *arguments, through_make=through_make, environment={DATA_DIR_ENV: str(data_dir)})


def banner_ready_seconds(server: LocalServer) -> float:
    found = re.search(r"\(ready in ([0-9.]+) s\)", server.log.read_text())
    assert found, server.log.read_text()
    return float(found.group(1))


def snapshot(data_dir: Path, *arguments: str, server: LocalServer | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m local snapshot ...` as a developer runs it in another terminal."""
    # Without a server: an endpoint file nobody wrote, never the clone's own.
    endpoint = server.endpoint_file if server else data_dir / "no-server.json"
    return local_command(
        "snapshot", *arguments, endpoint_file=endpoint, environment={DATA_DIR_ENV: str(data_dir)}, timeout=120
    )


def one_error_line(completed: subprocess.CompletedProcess[str]) -> str:
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def aws_client(server: LocalServer, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.running["aws_endpoint_url"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def counted(server: LocalServer, event_type: str) -> int:
    return int(server.request("GET", f"/stats/events?event_type={event_type}&days=1").json()["total"])


def user_stats(server: LocalServer) -> dict[str, Any]:
    stats = server.request("GET", "/stats/users").json()
    stats.pop("generated_at")
    return dict(stats)


def emails(server: LocalServer) -> list[dict[str, Any]]:
    return list(server.request("GET", "/_local/emails", scope=None).json()["emails"])


def welcome_sent_to(server: LocalServer, *users: dict[str, Any]) -> bool:
    sent = json.dumps(emails(server))
    return all(str(user["email"]) in sent for user in users)


@pytest.fixture
def receiver(httpserver: HTTPServer) -> tuple[str, list[Request]]:
    received: list[Request] = []
    httpserver.expect_request("/hooks/users").respond_with_handler(
        lambda request: (received.append(request), Response("ok"))[1]
    )
    return httpserver.url_for("/hooks/users"), received


def test_a_restart_with_persist_keeps_users_counts_events_mail_and_secrets(
    tmp_path: Path, receiver: tuple[str, list[Request]]
) -> None:
    url, received = receiver
    data = tmp_path / "data"
    arguments = ("--persist", "--parameter-overrides", f"WebhookUrls={url}")
    event_type = unique("e2e.persist")
    first = start(data, tmp_path / "first.log", *arguments)
    try:
        alice, bob = new_user(first, tags=["persist"]), new_user(first, tags=["persist"])
        assert first.request("PATCH", f"/users/{bob['id']}", json_body={"is_active": False}).status == 200
        bob = first.request("GET", f"/users/{bob['id']}").json()
        batch = {"events": [{"event_type": event_type} for _ in range(3)]}
        assert first.request("POST", "/events", json_body=batch).json() == {"accepted": 3}
        wait_for(lambda: counted(first, event_type) == 3, "the events to be counted")
        wait_for(lambda: welcome_sent_to(first, alice, bob), "both welcome emails")
        wait_for(lambda: len(received) >= 3, "the webhooks of two creates and an update")
        page = first.request("GET", "/users?tag=persist&limit=1").json()
        secret = aws_client(first, "ssm").get_parameter(Name="/nexus/webhook-secret", WithDecryption=True)
        before = {
            "users": [first.request("GET", f"/users/{user['id']}").json() for user in (alice, bob)],
            "user_stats": user_stats(first),
            "events": counted(first, event_type),
            "emails": emails(first),
            "next_page": first.request("GET", f"/users?tag=persist&limit=1&cursor={page['next_cursor']}").json(),
        }
    finally:
        assert stop_server(first) == 0
    assert "saved the state" in first.log.read_text()
    assert (data / "state" / "local.json").is_file()
    delivered = len(received)

    second = start(data, tmp_path / "second.log", *arguments)
    try:
        assert "loaded the state" in second.log.read_text()
        after = {
            "users": [second.request("GET", f"/users/{user['id']}").json() for user in (alice, bob)],
            "user_stats": user_stats(second),
            "events": counted(second, event_type),
            "emails": emails(second),
            # The cursor signing secret survived: a cursor from before the restart still reads.
            "next_page": second.request("GET", f"/users?tag=persist&limit=1&cursor={page['next_cursor']}").json(),
        }
        assert after == before
        assert before["user_stats"]["total_users"] == 2
        # A restored username is still taken.
        taken = second.request("POST", "/users", json_body={"username": alice["username"], "email": "x@example.com"})
        assert taken.status == 409
        # New events count on top: the stream's sequence numbers go on past the consumer's checkpoint.
        more = {"events": [{"event_type": event_type} for _ in range(2)]}
        assert second.request("POST", "/events", json_body=more).json() == {"accepted": 2}
        wait_for(lambda: counted(second, event_type) == 5, "the new events to be counted")
        # A new user's webhook is signed with the secret from before the restart, and nothing
        # restored was delivered again (the restore's own writes to the table are not changes).
        carol = new_user(second)
        wait_for(lambda: len(received) > delivered, "the new user's webhook")
        time.sleep(1.0)  # a late duplicate would arrive within the stream poller's next polls
        bodies = [json.loads(request.get_data()) for request in received[delivered:]]
        assert [(body["type"], body["data"]["id"]) for body in bodies] == [("user.created", carol["id"])]
        assert verify(
            secret["Parameter"]["Value"].encode(),
            received[-1].headers[SIGNATURE_HEADER],
            received[-1].get_data(),
            now=int(time.time()),
        )
        print(f"ready with a persisted state of 2 users: {banner_ready_seconds(second):.2f} s")
    finally:
        assert stop_server(second) == 0

    # The default stays a clean start: it neither reads nor removes the persisted state.
    third = start(data, tmp_path / "third.log")
    try:
        assert third.request("GET", f"/users/{alice['id']}").status == 404
        assert user_stats(third)["total_users"] == 0
        assert emails(third) == []
    finally:
        assert stop_server(third) == 0
    assert (data / "state" / "local.json").is_file()
    assert "state" not in third.log.read_text()


def test_make_start_persist_1_starts_from_the_saved_state(tmp_path: Path) -> None:
    """The Makefile's PERSIST=1 reaches the server. How fast such a start is ready with 200 users
    is measured by `make bench` (bench/reload.py), not here."""
    data = tmp_path / "data"
    first = start(data, tmp_path / "first.log", "--persist")
    try:
        created = [new_user(first)["id"] for _ in range(3)]
    finally:
        assert stop_server(first) == 0

    second = start(data, tmp_path / "second.log", "PERSIST=1", through_make=True)
    try:
        assert "loaded the state" in second.log.read_text()
        assert user_stats(second)["total_users"] == 3
        assert [second.request("GET", f"/users/{user_id}").status for user_id in created] == [200, 200, 200]
        # make dies of a SIGTERM it passes on: the server's own pid stops it, and make exits with it.
        os.kill(int(second.running["pid"]), signal.SIGTERM)
        assert second.process.wait(timeout=30) == 0
    finally:
        if second.process.poll() is None:
            stop_server(second)
    assert "saved the state" in second.log.read_text()


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Path]]:
    """One server (without --persist) for the snapshot tests, its snapshots in a directory of its own."""
    directory = tmp_path_factory.mktemp("snapshots")
    server = start(directory / "data", directory / "server.log")
    yield server, directory / "data"
    stop_server(server)


def test_save_change_load_and_list(snapshots: tuple[LocalServer, Path]) -> None:
    server, data = snapshots
    event_type = unique("e2e.snapshot")
    alice = new_user(server)
    assert server.request("POST", "/events", json_body={"events": [{"event_type": event_type}]}).status == 202
    wait_for(lambda: counted(server, event_type) == 1, "the event to be counted")
    wait_for(lambda: welcome_sent_to(server, alice), "the welcome email")
    saved = {"alice": alice, "stats": user_stats(server), "emails": emails(server)}

    completed = snapshot(data, "save", "before", server=server)
    assert completed.returncode == 0, completed.stderr
    assert "saved snapshot before" in completed.stdout
    assert (data / "snapshots" / "before.json").is_file()

    bob = new_user(server)
    assert server.request("DELETE", f"/users/{alice['id']}").status == 204
    assert server.request("POST", "/events", json_body={"events": [{"event_type": event_type}]}).status == 202
    wait_for(lambda: counted(server, event_type) == 2, "the second event to be counted")

    completed = snapshot(data, "load", "before", server=server)
    assert completed.returncode == 0, completed.stderr
    assert "loaded snapshot before" in completed.stdout
    assert server.request("GET", f"/users/{alice['id']}").json() == saved["alice"]
    assert server.request("GET", f"/users/{bob['id']}").status == 404
    assert user_stats(server) == saved["stats"]
    assert counted(server, event_type) == 1
    assert emails(server) == saved["emails"]
    # The loaded data keeps working: the stream counts on from the restored checkpoint.
    assert server.request("POST", "/events", json_body={"events": [{"event_type": event_type}]}).status == 202
    wait_for(lambda: counted(server, event_type) == 2, "an event after the load to be counted")

    assert snapshot(data, "save", "second", server=server).returncode == 0
    listed = snapshot(data, "list")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert {"before", "second"} <= set(names)
    assert names == sorted(names)


def test_a_snapshot_of_another_layout_a_corrupt_or_missing_one_is_one_line_and_exit_2(
    snapshots: tuple[LocalServer, Path],
) -> None:
    server, data = snapshots
    kept = new_user(server)
    directory = data / "snapshots"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "old.json").write_text(json.dumps({"layout": 0, "tables": {"UsersTable": []}}))
    (directory / "corrupt.json").write_text('{"layout": 1, "tables": ')

    old = one_error_line(snapshot(data, "load", "old", server=server))
    assert "layout 0" in old
    assert "old" in old
    assert "corrupt" in one_error_line(snapshot(data, "load", "corrupt", server=server))
    assert "nowhere" in one_error_line(snapshot(data, "load", "nowhere", server=server))
    assert "name" in one_error_line(snapshot(data, "save", "../escape", server=server))
    assert not (data / "escape.json").exists()

    answer = server.request("POST", "/_local/snapshots/old/load", scope=None)
    assert answer.status == 422
    assert "layout 0" in answer.json()["message"]
    assert server.request("POST", "/_local/snapshots/nowhere/load", scope=None).status == 404
    refused = server.request("POST", "/_local/snapshots/x/save", scope=None, headers={"Origin": "https://evil.example"})
    assert refused.status == 403
    assert not (directory / "x.json").exists()
    # Nothing was loaded: the refused snapshots left the data as it was.
    assert server.request("GET", f"/users/{kept['id']}").status == 200
    assert "Traceback" not in server.log.read_text()


def test_snapshot_save_without_a_running_server_is_one_line(tmp_path: Path) -> None:
    assert "make start" in one_error_line(snapshot(tmp_path / "data", "save", "any"))
    listed = snapshot(tmp_path / "data", "list")
    assert (listed.returncode, listed.stdout) == (0, "")


def test_persist_refuses_a_state_of_another_layout_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "state").mkdir(parents=True)
    (data / "state" / "local.json").write_text(json.dumps({"layout": 0}))
    completed = local_command(
        "start",
        "--persist",
        "--port",
        str(free_port()),
        endpoint_file=tmp_path / "endpoint.json",
        environment={DATA_DIR_ENV: str(data)},
    )
    line = one_error_line(completed)
    assert "layout 0" in line
    assert str(data / "state" / "local.json") in line
    assert json.loads((data / "state" / "local.json").read_text()) == {"layout": 0}, "the state is left as it was"


def test_the_readmes_snapshot_commands_run_as_printed(snapshots: tuple[LocalServer, Path]) -> None:
    server, data = snapshots
    text = (ROOT / "local" / "README.md").read_text()
    block = text.split("## State that survives\n", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    assert lines[0].startswith("make start PERSIST=1 "), "the block starts the server: the fixture's stands in for it"
    kept = new_user(server)
    environment = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environment |= {DATA_DIR_ENV: str(data), ENDPOINT_FILE_ENV: str(server.endpoint_file)}
    completed = subprocess.run(  # noqa: S603
        ["bash", "-euo", "pipefail", "-c", "\n".join(lines[1:])],  # noqa: S607
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    saved, loaded, *listed = completed.stdout.splitlines()
    assert saved.startswith(f"saved snapshot before-migration ({data / 'snapshots' / 'before-migration.json'}): ")
    assert loaded.startswith("loaded snapshot before-migration (")
    assert "before-migration" in [line.split()[0] for line in listed]
    assert server.request("GET", f"/users/{kept['id']}").status == 200
