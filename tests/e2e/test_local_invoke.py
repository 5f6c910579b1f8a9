"""`python -m local invoke` as the README prints it: its errors, and the AWS it picks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devkit.local_server import LocalServer
from local.__main__ import main as cli
from local.endpoint import ENDPOINT_FILE_ENV, RunningApi, running_api
from local.invoke import InvokeError, with_path_parameters
from local.template import ROOT, Template
from local.tokens import ALL_SCOPES, bearer_claims

GET_USER = ROOT / "events" / "get_user.json"


def run_invoke(*arguments: str, endpoint_file: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environment[ENDPOINT_FILE_ENV] = str(endpoint_file)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "local", "invoke", *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "not-json.json").write_text("{nope")
    (tmp_path / "latin1.json").write_bytes(b'{"a": "\xe9"}')
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "bad-section.json").write_text('{"Parameters": ["x"]}')
    return {name: str(tmp_path / name) for name in ("not-json.json", "latin1.json", "list.json", "bad-section.json")}


# (arguments, the one line on stderr; @name is a file _files writes): each fails before anything starts.
USAGE_ERRORS: list[tuple[list[str], str]] = [
    (["-e", "nope.json"], "error: event file nope.json: no such file"),
    (["-e", "events"], "error: event file events: is a directory, not a JSON file"),
    (["-e", "@not-json.json"], "error: event file @not-json.json is not JSON: Expecting property name enclosed in"),
    (["-e", "@latin1.json"], "error: event file @latin1.json: cannot be read ("),
    (["-e", str(GET_USER), "--env-vars", "env.json"], "error: env vars file env.json: no such file"),
    (["-e", str(GET_USER), "--env-vars", "@not-json.json"], "error: env vars file @not-json.json is not JSON"),
    (["-e", str(GET_USER), "--env-vars", "@list.json"], "error: env vars file @list.json must hold {"),
    (["-e", str(GET_USER), "--env-vars", "@bad-section.json"], "error: env vars file @bad-section.json must hold"),
    (["-e", str(GET_USER), "--path", "id=1"], "error: --path 'id=1': GET /users/{user_id} takes user_id=VALUE"),
    # `--path user_id=$ID` after the command that set ID failed: say where to look.
    (
        ["-e", str(GET_USER), "--path", "user_id="],
        "error: --path 'user_id=': the value is empty: if it came from a shell variable, the command that set it "
        "failed (its error is above)",
    ),
    (["-e", str(GET_USER), "--aws", "running"], "error: --aws running: no `make start` is running (no live "),
]


@pytest.mark.parametrize(("arguments", "line"), USAGE_ERRORS, ids=[line[7:40] for _, line in USAGE_ERRORS])
def test_a_bad_file_or_option_is_one_line_and_exit_2(
    arguments: list[str], line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENDPOINT_FILE_ENV, str(tmp_path / "none.json"))
    monkeypatch.chdir(ROOT)
    files = _files(tmp_path)

    def fill(text: str) -> str:
        for name, path in files.items():
            text = text.replace(f"@{name}", path)
        return text

    assert cli(["invoke", "GetUserFunction", *[fill(argument) for argument in arguments]]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    (only,) = printed.err.splitlines()
    assert only.startswith(fill(line)), only


def test_the_cli_prints_the_line_without_a_traceback(tmp_path: Path) -> None:
    completed = run_invoke("GetUserFunction", "-e", "nope.json", endpoint_file=tmp_path / "none.json")
    assert (completed.returncode, completed.stdout, completed.stderr) == (
        2,
        "",
        "error: event file nope.json: no such file\n",
    )
    unknown = run_invoke("NoSuchFunction", endpoint_file=tmp_path / "none.json")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: no function 'NoSuchFunction' in template.yaml; one of: ")
    assert len(unknown.stderr.splitlines()) == 1


def test_path_sets_the_parameter_raw_path_and_http_path(template: Template) -> None:
    event = json.loads(GET_USER.read_text())
    changed = with_path_parameters(event, template.functions()["GetUserFunction"], ["user_id=01J a/b"])
    assert changed["pathParameters"] == {"user_id": "01J a/b"}
    assert changed["rawPath"] == changed["requestContext"]["http"]["path"] == "/users/01J%20a%2Fb"
    assert changed["requestContext"]["requestId"] == event["requestContext"]["requestId"]
    assert event["pathParameters"] == {"user_id": "01JD0000000000000000000000"}, "the file's event is left alone"
    with pytest.raises(InvokeError, match="has no HTTP route"):
        with_path_parameters({}, template.functions()["CountEventsFunction"], ["user_id=1"])
    with pytest.raises(InvokeError, match="the value is empty"):
        with_path_parameters(event, template.functions()["GetUserFunction"], ["user_id="])


def test_a_stale_endpoint_file_is_ignored(tmp_path: Path) -> None:
    stale = tmp_path / "endpoint.json"
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    RunningApi(int(finished.stdout), "http://127.0.0.1:9", "http://127.0.0.1:9", {}).write(stale)
    assert running_api(stale) is None
    stale.write_text("not json")
    assert running_api(stale) is None


def _result(completed: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert completed.stdout, completed.stderr[-3000:]
    return dict(json.loads(completed.stdout))


def test_invoke_uses_the_running_servers_aws_so_ids_created_over_http_are_found(
    server: LocalServer, tmp_path: Path
) -> None:
    created = server.request("POST", "/users", json_body={"username": "invoked_alice", "email": "ia@example.com"})
    assert created.status == 201, created.body
    user = created.json()
    completed = run_invoke(
        "GetUserFunction", "-e", "events/get_user.json", "--path", f"user_id={user['id']}",
        endpoint_file=server.endpoint_file,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = _result(completed)
    assert (result["statusCode"], json.loads(result["body"])) == (200, user)
    running = server.running
    assert completed.stderr.splitlines()[0] == (
        f"local invoke: AWS of the running `make start` (pid {running['pid']}, {server.base_url}): "
        f"{running['aws_endpoint_url']}; --aws embedded for an empty one"
    )


def test_without_a_running_server_invoke_says_its_aws_is_empty(tmp_path: Path) -> None:
    completed = run_invoke("CreateUserFunction", "-e", "events/create_user.json", endpoint_file=tmp_path / "no.json")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert _result(completed)["statusCode"] == 201
    assert completed.stderr.splitlines()[0] == (
        "local invoke: embedded AWS: an empty stack of its own (no `make start` running), "
        "so ids created elsewhere are not found"
    )


def _readme_block(heading: str) -> str:
    text = (ROOT / "local" / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_readmes_invoke_against_the_running_api_runs_as_printed(server: LocalServer) -> None:
    block = _readme_block("Invoke against the running API")
    lines = block.splitlines()
    assert lines[0].startswith("make start "), "the block starts the server: the fixture's stands in for it"
    # As printed, whatever the session's server holds: the block names its user; the name is echoed after it.
    script = "\n".join([*lines[1:], 'echo "created: $NAME" >&2']).replace("http://127.0.0.1:3000", server.base_url)
    environment = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environment[ENDPOINT_FILE_ENV] = str(server.endpoint_file)
    completed = subprocess.run(  # noqa: S603
        ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = _result(completed)
    assert result["statusCode"] == 200, f"{result}\n{completed.stderr[-3000:]}"
    last = completed.stderr.splitlines()[-1]
    assert last.startswith("created: "), completed.stderr[-3000:]
    name = last.removeprefix("created: ")
    assert name, "the block names a user of its own"
    assert json.loads(result["body"])["username"] == name
    assert "local invoke: AWS of the running `make start` (pid " in completed.stderr


def test_token_prints_a_token_the_gateway_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["token"]) == 0
    claims = bearer_claims(f"Bearer {capsys.readouterr().out.strip()}")
    assert set(claims["scope"].split()) == set(ALL_SCOPES.split())
    assert cli(["token", "--scope", "users:read"]) == 0
    assert bearer_claims(f"Bearer {capsys.readouterr().out.strip()}")["scope"] == "users:read"
