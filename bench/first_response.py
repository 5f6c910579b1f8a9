"""Time to first response: a fresh process imports the handler and serves one request against moto.

What a user waiting on a cold function sees (issue 13, item 3): Lambda's init plus the first
invocation, its AWS calls included. Five handlers run in turn, round by round, per function:

- **ours**: the function's ``app.handler`` with its event file (``events/``), against a moto
  server this process runs, with every resource of template.yaml created in it;
- **textbook**: the handler Powertools' documentation teaches, as ran-isenberg's
  aws-lambda-handler-cookbook builds it: ``APIGatewayHttpResolver(enable_validation=True)``,
  ``Logger``, ``Metrics``, one pydantic model, a boto3 DynamoDB client and one ``GetItem``;
- **bare**: ``import boto3``, one DynamoDB client, one ``GetItem``;
- **floor**: the textbook's handler on this project's stack (what issue 13 says stays: Powertools,
  pydantic, pynamodb) loaded as the layer loads it: the cyclic collector paused, Powertools'
  package ``__init__``s deferred, botocore through ``nexus.aws`` (no boto3), pynamodb imported.
  Of the project's code only ``nexus/__init__`` and ``nexus.aws`` run, so ``ours / floor`` is what
  the project adds and ``floor / textbook`` is about the best ratio a handler on this stack can
  reach;
- **restored** (SnapStart without AWS): ours initialized once, then forked; the copy runs the
  restore hooks and serves the first request, timed from the fork (the restore itself, which
  Lambda does from its snapshot cache, is not in it).

The children run as the cold-start bench's (``python -s -S``, the function's directory, the
built layer and the byte-compiled runtime directory on ``sys.path``, no bytecode written); what
each runs is in bench/children/first_response/. The figures, the goals and the verdicts:
bench/first_response_report.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.children import program, source
from bench.first_response_report import CREATE_FUNCTION, READ_FUNCTIONS, FirstResponse, Sample
from devkit.bench_statistics import interleaved
from local.account import FAKE_CREDENTIALS
from local.provisioning import LocalResources
from local.runtime_dir import LAYER_DIR, base_python, ensure_runtime_dir
from local.template import ROOT, Function, Template

MARK = "BENCH-FIRST "  # what the child prints before its figures
_CHILD = "first_response/child.py"
OURS = program(_CHILD)
RESTORED = program(_CHILD, source("first_response/restored.py"))
TEXTBOOK = program(_CHILD, source("first_response/textbook.py"))
FLOOR = program(_CHILD, source("first_response/floor.py"))
BARE = program(_CHILD, source("first_response/bare.py"))


@contextmanager
def emulated_aws(template: Template) -> Iterator[tuple[LocalResources, str]]:
    """A moto server on 127.0.0.1 with every resource of the template, for the children."""
    import logging

    import boto3

    from devkit.moto_server import serialized_moto_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    saved = dict(os.environ)
    os.environ.update(FAKE_CREDENTIALS)
    try:
        with serialized_moto_server() as endpoint:
            yield LocalResources(template, boto3.Session(), endpoint_url=endpoint).create_all(), endpoint
    finally:
        os.environ.clear()
        os.environ.update(saved)


class FirstResponseRunner:
    def __init__(self, template: Template, resources: LocalResources, endpoint: str) -> None:
        self.template = template
        self.resources = resources
        self.endpoint = endpoint
        self.runtime_dir = ensure_runtime_dir()
        self.functions = template.functions()
        self._created = 0
        self.user: dict[str, str] = {}
        self.user = self._seed()

    def environment(self, function: Function, event: dict[str, Any]) -> dict[str, str]:
        return {
            **self.resources.environment(function),
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(function.code_uri),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(str(p) for p in (function.code_uri, LAYER_DIR, self.runtime_dir)),
            "PYTHONDONTWRITEBYTECODE": "1",
            "BENCH_EVENT": json.dumps(event),
            "BENCH_PK": self.user.get("pk", ""),
            # The users table, for the textbook and bare handlers (not every function has its name).
            "BENCH_TABLE": self.resources.physical["UsersTable"]["Ref"],
        }

    def run(self, function: Function, code: str, event: dict[str, Any]) -> Sample:
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            [base_python(), "-s", "-S", "-c", code],
            cwd=function.code_uri,
            env=self.environment(function, event),
            capture_output=True,
            text=True,
            check=False,
        )
        marks = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
        if done.returncode != 0 or not marks:
            raise RuntimeError(
                f"{function.logical_id} first response failed ({done.returncode}):\n{done.stderr[-3000:]}"
            )
        init, first, status = marks[-1].removeprefix(MARK).split()
        return Sample(float(init), float(first), status)

    # The events: the function's event file, pointed at the seeded user; a fresh user per create.
    def event(self, name: str) -> dict[str, Any]:
        event: dict[str, Any] = json.loads((ROOT / "events" / f"{_snake(name)}.json").read_text())
        if name == "GetUserFunction" and self.user:
            event["rawPath"] = f"/users/{self.user['id']}"
            event["pathParameters"] = {"user_id": self.user["id"]}
        elif name == "GetUserByUsernameFunction" and self.user:
            event["rawPath"] = f"/users/by-username/{self.user['username']}"
            event["pathParameters"] = {"username": self.user["username"]}
        elif name == "ListUsersFunction":
            event["rawQueryString"] = "limit=10"  # the first page, unfiltered
            event["queryStringParameters"] = {"limit": "10"}
        elif name == CREATE_FUNCTION:
            self._created += 1
            handle = f"bench{self._created:05d}"
            event["body"] = json.dumps({"username": handle, "email": f"{handle}@example.com", "full_name": "Bench"})
        return event

    def textbook_event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads((ROOT / "events" / "get_user.json").read_text())
        event["rawPath"] = f"/users/{self.user['id']}"
        event["pathParameters"] = {"user_id": self.user["id"]}
        return event

    def _seed(self) -> dict[str, str]:
        """One user, created through the create function (the reads find it)."""
        function = self.functions[CREATE_FUNCTION]
        sample = self.run(function, OURS, self.event(CREATE_FUNCTION))
        if sample.status != "201":
            raise RuntimeError(f"seeding a user answered {sample.status}")
        table = self.resources.physical["UsersTable"]["Ref"]
        items = self.resources.client("dynamodb").scan(TableName=table)["Items"]
        user = next(i for i in items if "username" in i and "user_id" in i)
        return {"pk": user["pk"]["S"], "id": user["user_id"]["S"], "username": user["username"]["S"]}

    def measure(self, runs: int, only: list[str] | None = None) -> list[FirstResponse]:
        names = [n for n in (*READ_FUNCTIONS, CREATE_FUNCTION) if not only or n in only]
        results = []
        for name in names:
            function = self.functions[name]
            sides: list[Callable[[], Sample]] = [
                lambda f=function, n=name: self.run(f, OURS, self.event(n)),
                lambda f=function: self.run(f, TEXTBOOK, self.textbook_event()),
                lambda f=function: self.run(f, BARE, self.textbook_event()),
                lambda f=function, n=name: self.run(f, RESTORED, self.event(n)),
                lambda f=function: self.run(f, FLOOR, self.textbook_event()),
            ]
            samples = interleaved(sides, runs)
            # The baselines must have served the user they were pointed at, as ours must.
            baseline_statuses = {s.status for index in (1, 2, 4) for s in samples[index]}
            if baseline_statuses != {"200"}:
                raise RuntimeError(f"{name}: the textbook, bare or floor handler answered {baseline_statuses}")
            results.append(FirstResponse(name, runs, *samples))
        return results


def _snake(function: str) -> str:
    name = function.removesuffix("Function")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def first_responses(template: Template, runs: int, only: list[str] | None = None) -> list[dict[str, Any]]:
    started = time.monotonic()
    with emulated_aws(template) as (resources, endpoint):
        rows = [r.row() for r in FirstResponseRunner(template, resources, endpoint).measure(runs, only)]
    for row in rows:
        row["seconds"] = round(time.monotonic() - started, 1)
    return rows
