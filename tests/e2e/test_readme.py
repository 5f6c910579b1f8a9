"""The README's 60-second tour runs as printed against a local server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid

from devkit.local_server import LocalServer
from local.template import ROOT


def _tour() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## A 60-second tour\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    # Join continued lines: each entry is one command as a shell reads it.
    return [command for command in block.replace("\\\n", " ").splitlines() if command.strip()]


def test_the_tour_runs_as_printed(server: LocalServer) -> None:
    commands = _tour()
    assert commands[0] == "API=http://127.0.0.1:3000", "the tour names the address make start serves"
    # The session's server may hold an alice already: the tour's user gets a name of its own.
    name = f"tour_{uuid.uuid4().hex[:8]}"
    script = "\n".join(
        # Each command's output on a line of its own, so each answer can be read back.
        f"{command}\necho" if command.lstrip().startswith(("curl", "sleep")) else command
        for command in commands
    )
    script = script.replace("http://127.0.0.1:3000", server.base_url)
    script = script.replace("alice", name).replace("Alice", name.capitalize()).replace("ALICE", name.upper())

    completed = subprocess.run(  # noqa: S603
        ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    answers = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    health, created, taken, listed, by_username, accepted, event_stats, user_stats = answers
    assert health["status"] == "ok"
    assert created["username"] == name
    assert created["tags"] == ["beta"]
    assert taken["error"]["code"] == "username_taken"
    assert created["id"] in [user["id"] for user in listed["items"]]
    assert by_username["id"] == created["id"]
    assert accepted == {"accepted": 1}
    assert set(event_stats) == {"event_type", "days", "total", "by_day"}
    assert event_stats["days"] == 1
    assert user_stats["total_users"] >= 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*Z", user_stats["generated_at"])
