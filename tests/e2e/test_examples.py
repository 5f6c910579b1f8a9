"""Every shell example of README.md and local/README.md runs as printed, after the tour, in any order.

A newcomer runs the README's tour on a fresh `make start`, then the other examples in whatever
order they meet them, some twice. So does this file, on a server of its own (the tour's alice is
the README's, never another test's user): the tour first, then the examples in one order and in
the other, so that each runs after the tour, after the other example and after itself. The blocks
are read from the markdown, so an edit of the docs is what gets tested, and run with
`bash -euo pipefail`: stricter than an interactive shell, a failing command fails the block. A
block that needs what a test cannot have (AWS credentials, Docker, the suite itself) is named in
``NOT_RUN`` with the reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from devkit.local_server import LocalServer, start_server, stop_server
from local.endpoint import ENDPOINT_FILE_ENV
from local.template import ROOT

DOCUMENTS = ("README.md", "local/README.md")
LANGUAGES = {"sh", "bash", "shell", "console"}
ADDRESS = "http://127.0.0.1:3000"  # what the examples call: `make start`'s default port

Block = tuple[str, str, int]  # (document, the heading it is under, its index among that heading's blocks)

TOUR: Block = ("README.md", "A 60-second tour", 0)
INVOKE: Block = ("README.md", "Invoke locally", 0)
RUNNING: Block = ("local/README.md", "Invoke against the running API", 0)
FAULTS: Block = ("local/README.md", "Faults on demand: `/_local/faults`", 0)
NOT_RUN: dict[Block, str] = {
    (
        "local/README.md",
        "State that survives",
        0,
    ): "tests/e2e/test_persistence.py runs it as printed, on a data directory of its own",
    ("local/README.md", "A debugger: `make start DEBUG=<Function>`", 0): (
        "it starts a server under debugpy: tests/e2e/test_debugger.py starts one so and attaches to it"
    ),
    ("README.md", "The two commands", 0): "`make start` is what the server fixture runs; `make test` is the suite",
    ("README.md", "Deploy", 0): "deploys to AWS: credentials and an account",
    ("README.md", "Invoke locally", 1): "`sam local` runs the functions in Docker",
}
# A block's `make` lines set up what these tests already have.
SET_UP = {
    "make install layer": "the venvs and the layer, which every test here runs on",
    "make start": "the server fixture",
}


def shell_blocks(document: str) -> dict[Block, str]:
    """Each fenced shell block of ``document`` under the heading it follows (any level)."""
    blocks: dict[Block, str] = {}
    heading, fence, lines = "", "", list[str]()
    for line in (ROOT / document).read_text().splitlines():
        if fence:
            if line.startswith("```"):
                if fence in LANGUAGES:
                    count = sum(1 for doc, head, _ in blocks if (doc, head) == (document, heading))
                    blocks[(document, heading, count)] = "\n".join(lines) + "\n"
                fence, lines = "", []
            else:
                lines.append(line)
        elif line.startswith("```"):
            fence = line[3:].strip() or "text"
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    assert not fence, f"{document}: a code block is not closed"
    return blocks


def every_block() -> dict[Block, str]:
    return {key: text for document in DOCUMENTS for key, text in shell_blocks(document).items()}


def test_every_shell_example_is_run_or_says_why_not() -> None:
    blocks = set(every_block())
    assert blocks >= {TOUR, INVOKE, RUNNING, FAULTS}, "a block these tests run has moved: follow it"
    assert blocks - {TOUR, INVOKE, RUNNING, FAULTS} == set(NOT_RUN), (
        "a shell example these tests neither run nor name in NOT_RUN: run it here, or say why not"
    )


def script(block: str, server: LocalServer) -> str:
    """The block as bash runs it, on ``server``: its `make` lines left out (``SET_UP``), and an
    `echo` after each curl and sleep, so that every answer is a JSON document of its own."""
    commands = []
    for command in block.replace("\\\n", " ").splitlines():
        words = command.split("#", 1)[0].strip()
        if words.startswith("make "):
            assert words in SET_UP, f"a set-up step these tests do not stand in for: {command}"
            continue
        commands.append(f"{command}\necho" if words.startswith(("curl", "sleep")) else command)
    text = "\n".join(commands).replace(ADDRESS, server.base_url)
    assert ":3000" not in text, "an example calls another address than `make start`'s"
    return text


def run(block: Block, server: LocalServer) -> list[Any]:
    """Run the block as printed; every JSON document it printed on stdout, in order."""
    environment = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environment[ENDPOINT_FILE_ENV] = str(server.endpoint_file)  # `local invoke` finds this server
    completed = subprocess.run(  # noqa: S603
        ["bash", "-euo", "pipefail", "-c", script(every_block()[block], server)],  # noqa: S607
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, f"{block} failed:\n{completed.stderr[-3000:]}"
    decoder, text, documents, position = json.JSONDecoder(), completed.stdout, [], 0
    while text[position:].strip():
        position += len(text[position:]) - len(text[position:].lstrip())
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


def answer(result: dict[str, Any], status: int) -> Any:
    """The body of what `local invoke` printed for an HTTP function, after checking its status."""
    assert result["statusCode"] == status, result
    return json.loads(result["body"])


def counted(server: LocalServer, event_type: str | None, expected: int, within: float = 15.0) -> int:
    """``GET /stats/events?days=1``'s total once the stream's consumer has counted ``expected`` (bounded)."""
    query = "/stats/events?days=1" + (f"&event_type={event_type}" if event_type else "")
    deadline = time.monotonic() + within
    while True:
        total = int(server.request("GET", query).json()["total"])
        if total >= expected or time.monotonic() > deadline:
            return total
        time.sleep(0.2)


@dataclass
class Toured:
    """The module's server after the tour, and what the examples have written on it since."""

    server: LocalServer
    users: dict[str, dict[str, Any]]  # id -> the user as created, alice first
    counts: dict[str, int] = field(default_factory=dict)  # /stats/events right after the tour, by type

    def created(self, user: dict[str, Any]) -> None:
        assert user["id"] not in self.users
        assert user["username"].casefold() not in {u["username"].casefold() for u in self.users.values()}
        self.users[user["id"]] = user


def the_tour(server: LocalServer) -> Toured:
    health, created, taken, listed, by_username, accepted, event_stats, user_stats = run(TOUR, server)
    assert health["status"] == "ok"
    assert (created["username"], created["tags"]) == ("alice", ["beta"]), created
    assert taken["error"]["code"] == "username_taken"
    assert [user["id"] for user in listed["items"]] == [created["id"]]
    assert by_username == created
    assert accepted == {"accepted": 1}
    assert (event_stats["event_type"], event_stats["days"]) == (None, 1)
    assert event_stats["total"] <= 2, "printed after `sleep 2`: the consumer may still be counting"
    assert user_stats["total_users"] == 1
    toured = Toured(server, {created["id"]: created})
    toured.counts = {
        "all": counted(server, None, 2),
        "user_created": counted(server, "user_created", 1),
        "page_view": counted(server, "page_view", 1),
    }
    return toured


@pytest.fixture(scope="module")
def toured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Toured]:
    """A fresh server of this module's own, on which the tour has run first, as a newcomer runs it."""
    server = start_server(tmp_path_factory.mktemp("examples") / "server.log")
    try:
        yield the_tour(server)
    finally:
        stop_server(server)


def test_the_tour_counts_two_events_on_a_fresh_server(toured: Toured) -> None:
    """The README's `total: 2`: the tour's page_view, and the user_created alice's sign-up recorded
    itself (the 409 recorded nothing)."""
    assert toured.counts == {"all": 2, "user_created": 1, "page_view": 1}
    section = (ROOT / "README.md").read_text().split("## A 60-second tour\n", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"`total: 2`.*`user_created`", " ".join(section.split())), "the README says why"


def invoke_locally(toured: Toured) -> None:
    created, health = run(INVOKE, toured.server)
    toured.created(answer(created, 201))  # a user of its own: alice is the tour's
    assert answer(health, 200)["status"] == "ok"


def invoke_against_the_running_api(toured: Toured) -> None:
    (found,) = run(RUNNING, toured.server)
    user = answer(found, 200)
    assert user["id"] not in toured.users, "the example reads the user it has just created over HTTP"
    toured.created(user)


EXAMPLES: dict[str, Callable[[Toured], None]] = {"invoke": invoke_locally, "running": invoke_against_the_running_api}


@pytest.mark.parametrize("order", [["invoke", "running"], ["running", "invoke"]], ids="-then-".join)
def test_the_examples_run_as_printed_after_the_tour(order: list[str], toured: Toured) -> None:
    for example in order:
        EXAMPLES[example](toured)

    # Every user is there, once, and counted: each sign-up recorded its own user_created.
    server, users = toured.server, toured.users
    assert server.request("GET", "/stats/users").json()["total_users"] == len(users)
    for user_id, user in users.items():
        assert server.request("GET", f"/users/{user_id}").json() == user
    assert counted(server, "user_created", len(users)) == len(users)
    assert counted(server, None, len(users) + 1) == len(users) + 1, "and the tour's one page_view"


def test_the_faults_example_turns_faults_on_and_every_one_off_after_the_tour(toured: Toured) -> None:
    listed, throttled, partial, slow, after = run(FAULTS, toured.server)
    assert listed["active"] == []
    assert "dynamodb_throttling" in listed["available"]
    assert (throttled["fault"]["name"], throttled["fault"]["function"]) == ("dynamodb_throttling", "GetUserFunction")
    assert (partial["fault"]["name"], partial["fault"]["rate"]) == ("kinesis_partial_failures", 0.5)
    assert (slow["fault"]["name"], slow["fault"]["seconds"]) == ("slow_webhooks", 3.0)
    assert after == {"active": []}
