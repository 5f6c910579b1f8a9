"""Time to first response: a fresh process imports the handler and serves one request against moto.

What a user waiting on a cold function sees (issue 13, item 3): Lambda's init plus the first
invocation, its AWS calls included. Three handlers run in turn, round by round, per function:

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
built layer and the byte-compiled runtime directory on ``sys.path``, no bytecode written). The
goals: every HTTP read function's median ≤ 0.85x the textbook's, create user's ≤ 1.10x. Each
verdict also comes from the round-by-round ratios: their median with its 95 % interval
(``devkit.intervals``), per function and for the six reads pooled.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devkit.intervals import median_interval, pooled, verdict
from local.account import FAKE_CREDENTIALS
from local.provisioning import LocalResources
from local.runtime_dir import LAYER_DIR, base_python, ensure_runtime_dir
from local.template import ROOT, Function, Template

MARK = "BENCH-FIRST "
READ_GOAL = 0.85
CREATE_GOAL = 1.10
READ_FUNCTIONS = (
    "GetUserFunction",
    "GetUserByUsernameFunction",
    "ListUsersFunction",
    "HealthFunction",
    "UserStatsFunction",
    "EventStatsFunction",
)
CREATE_FUNCTION = "CreateUserFunction"

# The child: the event and a Lambda context ready before the clock starts (the runtime's
# bootstrap has them before it imports the handler), then init, then the first invocation.
_PRELUDE = """
import json, os, sys, time
_event = json.loads(os.environ.pop("BENCH_EVENT"))
class _Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 30000
_context = _Context()
_real_stdout = os.fdopen(os.dup(1), "w")
_devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(_devnull, 1)  # the handler's logs and EMF
_started = time.perf_counter()
"""
_REPORT = f"""
_done = time.perf_counter()
_status = _response.get("statusCode") if isinstance(_response, dict) else None
_real_stdout.write("\\n{MARK}%.3f %.3f %s\\n" % ((_init - _started) * 1000, (_done - _started) * 1000, _status))
_real_stdout.flush()
"""

OURS = (
    _PRELUDE
    + """
import app
_init = time.perf_counter()
_response = app.handler(_event, _context)
"""
    + _REPORT
)

# SnapStart without AWS: init once, then fork a copy that runs the restore hooks (the runtime's
# snapshot_restore_py registry) and serves the first request; timed from the fork. The parent's
# random state is put back first: a restored snapshot runs none of Python's at-fork hooks.
RESTORED = (
    _PRELUDE
    + """
import app
import random
import snapshot_restore_py
_state = random.getstate()
_pid = os.fork()
if _pid:
    os.waitpid(_pid, 0)
    raise SystemExit(0)
random.setstate(_state)
_started = time.perf_counter()
for _hook, _args, _kwargs in snapshot_restore_py._after_restore_registry:
    _hook(*_args, **_kwargs)
_init = time.perf_counter()
_response = app.handler(_event, _context)
"""
    + _REPORT
)


def _textbook_code(stack_imports: str, client: str) -> str:
    """The textbook handler's code, its stack imported by ``stack_imports``, its client ``client``."""
    return (
        _PRELUDE
        + stack_imports
        + f"""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

logger = Logger()
metrics = Metrics(namespace="Textbook")
resolver = APIGatewayHttpResolver(enable_validation=True)
dynamodb = {client}
TABLE = os.environ["BENCH_TABLE"]


class User(BaseModel):
    id: str
    username: str
    email: str


@resolver.get("/users/<user_id>")
def get_user(user_id: str) -> User:
    item = dynamodb.get_item(TableName=TABLE, Key={{"pk": {{"S": os.environ["BENCH_PK"]}}}})["Item"]
    metrics.add_metric(name="UserRead", unit=MetricUnit.Count, value=1)
    return User(id=item["user_id"]["S"], username=item["username"]["S"], email=item["email"]["S"])


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event, context):
    return resolver.resolve(event, context)

_init = time.perf_counter()
_response = handler(_event, _context)
"""
        + _REPORT
    )


TEXTBOOK = _textbook_code("\nimport boto3", 'boto3.client("dynamodb")')
# nexus first: its __init__ pauses the collector and defers Powertools' package __init__s, as in the layer.
FLOOR = _textbook_code("\nfrom nexus import aws\nimport pynamodb.models", 'aws.LazyClient("dynamodb")')

BARE = (
    _PRELUDE
    + """
import boto3
dynamodb = boto3.client("dynamodb")
_init = time.perf_counter()
item = dynamodb.get_item(TableName=os.environ["BENCH_TABLE"], Key={"pk": {"S": os.environ["BENCH_PK"]}})["Item"]
_response = {"statusCode": 200, "body": json.dumps({"id": item["user_id"]["S"]})}
"""
    + _REPORT
)


@dataclass
class Sample:
    init_ms: float
    first_ms: float  # init + the first request: time to first response
    status: str


@dataclass
class FirstResponse:
    function: str
    runs: int
    ours: list[Sample]
    textbook: list[Sample]
    bare: list[Sample]
    restored: list[Sample]
    floor: list[Sample]

    @staticmethod
    def _median(samples: list[Sample], field: str = "first_ms") -> float:
        return float(statistics.median(getattr(s, field) for s in samples))

    @property
    def goal(self) -> float:
        return CREATE_GOAL if self.function == CREATE_FUNCTION else READ_GOAL

    def paired_ratios(self) -> list[float]:
        """Ours / textbook round by round: the two ran seconds apart, so drift between rounds cancels."""
        return [o.first_ms / t.first_ms for o, t in zip(self.ours, self.textbook, strict=True)]

    def row(self) -> dict[str, Any]:
        ours, textbook, bare, floor = (self._median(s) for s in (self.ours, self.textbook, self.bare, self.floor))
        ratios = self.paired_ratios()
        paired, low, high = median_interval(ratios)
        return {
            "function": self.function,
            "runs": self.runs,
            "first_ms": round(ours, 1),
            "init_ms": round(self._median(self.ours, "init_ms"), 1),
            "textbook_first_ms": round(textbook, 1),
            "textbook_init_ms": round(self._median(self.textbook, "init_ms"), 1),
            "bare_first_ms": round(bare, 1),
            "ratio_textbook": round(ours / textbook, 2),
            "ratio_bare": round(ours / bare, 2),
            "textbook_ratio_bare": round(textbook / bare, 2),
            "goal": self.goal,
            "met": ours / textbook <= self.goal,
            "paired_ratio": round(paired, 2),
            "paired_low": round(low, 2),
            "paired_high": round(high, 2),
            "verdict": verdict(low, high, self.goal),
            "paired_ratios": [round(r, 3) for r in ratios],
            "status": sorted({s.status for s in self.ours}),
            "floor_first_ms": round(floor, 1),
            "ratio_floor": round(ours / floor, 2),
            "floor_ratio_textbook": round(floor / textbook, 2),
            "restored_first_ms": round(self._median(self.restored), 1),
            "restored_ratio_textbook": round(self._median(self.restored) / textbook, 2),
        }


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
            for side in sides:
                side()  # warm-up: the OS file cache
            samples: list[list[Sample]] = [[] for _ in sides]
            for _ in range(runs):
                for index, side in enumerate(sides):
                    samples[index].append(side())
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


def pooled_reads(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Every HTTP read function's paired ratios together (``devkit.intervals.pooled``)."""
    return pooled(rows, READ_FUNCTIONS, READ_GOAL)


def print_first_responses(rows: list[dict[str, Any]]) -> None:
    runs = rows[0]["runs"] if rows else 0
    print(
        f"\nTime to first response (fresh process: init + the first request against moto; median of {runs},"
        " ours / textbook / bare / restored / floor in turn)"
    )
    print(
        f"{'function':28} {'status':>6} {'init':>7} {'first':>7} {'textbook':>9} {'bare':>7}"
        f" {'/textbook':>9} {'goal':>6} {'/bare':>6} {'textbook/bare':>13} {'restored':>9} {'/textbook':>9}"
        f" {'floor':>7} {'floor/textbook':>14} {'/floor':>6}"
    )
    for row in rows:
        print(
            f"{row['function']:28} {','.join(row['status']):>6} {row['init_ms']:7.1f} {row['first_ms']:7.1f}"
            f" {row['textbook_first_ms']:9.1f} {row['bare_first_ms']:7.1f} {row['ratio_textbook']:9.2f}"
            f" {'<= ' + str(row['goal']):>6} {row['ratio_bare']:6.2f} {row['textbook_ratio_bare']:13.2f}"
            f" {row.get('restored_first_ms', 0.0):9.1f} {row.get('restored_ratio_textbook', 0.0):9.2f}"
            f" {row.get('floor_first_ms', 0.0):7.1f} {row.get('floor_ratio_textbook', 0.0):14.2f}"
            f" {row.get('ratio_floor', 0.0):6.2f}"
            f"  {'ok ' if row['met'] else 'MISS'}"
        )
    print(
        "\nOurs / textbook round by round (paired): median and its 95 % interval (order statistics);"
        " met: the whole interval at or under the goal, missed: all over it, unclear: the goal inside it"
    )
    print(f"{'function':28} {'pairs':>5} {'median':>7} {'95 % interval':>14} {'goal':>7} {'verdict':>8}")
    reads = pooled_reads(rows)
    lines = [(row["function"], row) for row in rows if "paired_ratio" in row]
    if reads is not None:
        lines.append(("HTTP reads, pooled", reads))
    for name, line in lines:
        pairs = line.get("pairs", len(line.get("paired_ratios", [])))
        print(
            f"{name:28} {pairs:5d} {line['paired_ratio']:7.2f} {line['paired_low']:6.2f} - {line['paired_high']:5.2f}"
            f" {'<= ' + str(line['goal']):>7} {line['verdict']:>8}"
        )
