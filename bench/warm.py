"""Warm overhead: per-invocation time of each handler with AWS stubbed at the HTTP layer.

``record`` (moto in process) runs each scenario once and keeps, per AWS call, the API
parameters and the raw HTTP response moto gave. ``replay`` (no moto imported) then answers
every call with its recorded response from a botocore ``before-send`` handler, so AWS latency
is out but serialization, signing and parsing stay in, and times two handlers on the same
event: the real one (Powertools resolver, pydantic, pynamodb, the services) and a bare
boto3 handler that decodes the event, makes the same calls with the same parameters
(``client.<operation>(**params)``) and returns a JSON body. Each replay runs in its own
process (one function per process, as in Lambda), with stdout (logs, EMF) discarded.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import statistics
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse

from devkit.aws_calls import consumer_batch_event
from local.account import FAKE_CREDENTIALS
from local.events import RouteMatch, build_http_event, match_route
from local.template import ROOT, Template
from local.tokens import ALL_SCOPES

CONTEXT_ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench"


@dataclass
class Scenario:
    name: str
    function: str
    event: dict[str, Any]
    calls: list[dict[str, Any]]
    status: int | None


# JSON encoding of API parameters (Kinesis Data is bytes) -------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


@contextmanager
def _hook_clients(register: Any) -> Iterator[None]:
    """Call ``register(client)`` on every botocore client created inside the block."""
    original = botocore.session.Session.create_client

    def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        register(client)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


def http_event(template: Template, method: str, path: str, body: Any = None, query: str = "") -> dict[str, Any]:
    found = match_route(template.routes(), method, path)
    assert isinstance(found, RouteMatch), f"no route for {method} {path}"
    return build_http_event(
        method=method,
        path=path,
        route_key=found.route.route_key,
        raw_query=query,
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode() if body is not None else None,
        path_parameters=found.path_parameters,
        claims={"sub": "user-1", "scope": ALL_SCOPES},
    )


class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = CONTEXT_ARN
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def load_handler(template: Template, logical_id: str) -> ModuleType:
    return template.functions()[logical_id].load_handler_module(f"bench_{logical_id}")


# Record (moto) -------------------------------------------------------------------------------


def record(out: Path) -> None:
    import boto3
    from moto import mock_aws

    from local.provisioning import LocalResources
    from nexus.services import registry

    template = Template()
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    calls: list[dict[str, Any]] = []

    def register(client: Any) -> None:
        def before(model: Any, params: dict[str, Any], **_: Any) -> None:
            calls.append({"service": model.service_model.service_name, "operation": model.name})
            calls[-1]["params"] = _encode(copy.deepcopy(params))

        def after(http_response: Any, model: Any, **_: Any) -> None:
            calls[-1].update(
                status=http_response.status_code,
                headers=dict(http_response.headers),
                body=base64.b64encode(http_response.content).decode(),
            )

        client.meta.events.register("before-parameter-build.*.*", before)
        client.meta.events.register("after-call.*.*", after)

    scenarios: list[Scenario] = []
    with mock_aws(), _hook_clients(register):
        resources = LocalResources(template, boto3.Session()).create_all()
        environment: dict[str, str] = {}
        for function in template.functions().values():  # all in this process: every one's variables
            environment.update(resources.environment(function))
        os.environ.update(environment)
        modules: dict[str, ModuleType] = {}

        def invoke(name: str, function: str, event: dict[str, Any], keep: bool = True) -> dict[str, Any]:
            if function not in modules:
                modules[function] = load_handler(template, function)
            calls.clear()
            result: dict[str, Any] = modules[function].handler(event, Context())
            if keep:
                status = result.get("statusCode")
                scenarios.append(Scenario(name, function, event, list(calls), status))
            return result

        def create(n: int) -> dict[str, Any]:
            body = {"username": f"warm{n}", "email": f"warm{n}@example.com", "full_name": f"Warm {n}"}
            result = invoke("create_user", "CreateUserFunction", http_event(template, "POST", "/users", body), n == 1)
            return dict(json.loads(result["body"]))

        user = create(1)
        other = create(2)
        get = http_event(template, "GET", f"/users/{user['id']}")
        invoke("get_user_hit", "GetUserFunction", get)
        cache = resources.client("dynamodb")
        cache_table = resources.physical["CacheTable"]["Ref"]
        cache.delete_item(TableName=cache_table, Key={"key": {"S": f"user:{user['id']}"}})
        invoke("get_user_miss", "GetUserFunction", get)
        by_name = http_event(template, "GET", f"/users/by-username/{user['username']}")
        invoke("get_user_by_username", "GetUserByUsernameFunction", by_name)
        patch = http_event(template, "PATCH", f"/users/{user['id']}", {"full_name": "Renamed"})
        invoke("update_user", "UpdateUserFunction", patch)
        page = http_event(template, "GET", "/users", query="limit=20")
        invoke("list_users_miss", "ListUsersFunction", page)
        invoke("list_users_hit", "ListUsersFunction", page)
        invoke("delete_user", "DeleteUserFunction", http_event(template, "DELETE", f"/users/{other['id']}"))
        one_event = {"event_type": "page_view", "user_id": "u1", "properties": {"page": "/"}}
        invoke("track_event", "TrackEventsFunction", http_event(template, "POST", "/events", one_event))
        invoke("user_stats", "UserStatsFunction", http_event(template, "GET", "/stats/users"))
        stats = http_event(template, "GET", "/stats/events", query="days=7")
        invoke("event_stats", "EventStatsFunction", stats)
        invoke("health", "HealthFunction", http_event(template, "GET", "/health"))
        invoke("consumer_batch_100", "CountEventsFunction", consumer_batch_event())
        registry.reset()
    out.write_text(json.dumps({"environment": environment, "scenarios": [s.__dict__ for s in scenarios]}))


# Replay (stubbed) ----------------------------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class Stub:
    """Answers each call of an invocation with the next recorded response."""

    def __init__(self) -> None:
        self.pending: deque[dict[str, Any]] = deque()

    def load(self, calls: list[dict[str, Any]]) -> None:
        self.pending = deque(calls)

    def send(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        if not self.pending:
            raise AssertionError(f"unexpected call {operation}: none was recorded")
        call = self.pending.popleft()
        if call["operation"] != operation:
            raise AssertionError(f"call {operation} where {call['operation']} was recorded")
        return AWSResponse(request.url, call["status"], call["headers"], _Raw(base64.b64decode(call["body"])))


def _bare_work(calls: list[dict[str, Any]]) -> Any:
    """Decode the event and make the same calls with boto3, nothing else: the baseline's work."""
    import boto3
    from botocore import xform_name

    clients = {service: boto3.client(service) for service in dict.fromkeys(c["service"] for c in calls)}
    plan = [(getattr(clients[c["service"]], xform_name(c["operation"])), _decode(c["params"])) for c in calls]

    def work(event: dict[str, Any]) -> dict[str, Any]:
        if "Records" in event:
            payload: Any = [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
        else:
            payload = json.loads(event["body"]) if event.get("body") else None
        results = [method(**copy.deepcopy(params)) for method, params in plan]
        return {"payload": payload is not None, "calls": len(results)}

    return work


def _bare_handler(work: Any) -> Any:
    """The baseline: the bare work, answered as JSON."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps(work(event))}

    return handler


def _floor_handler(calls: list[dict[str, Any]], event: dict[str, Any]) -> Any:
    """The same work inside the least of the stack: Logger, Metrics, and Powertools' resolver
    (HTTP) or its batch processor walking the records (a stream)."""
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    work = _bare_work(calls)
    logger = Logger(service="floor")
    metrics = Metrics(namespace="Floor")
    bare = _bare_handler(work)
    processor = BatchProcessor(event_type=EventType.KinesisDataStreams)

    def inner(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with processor(records=event["Records"], handler=lambda record: None):
            processor.process()
        return dict(bare(event, context))

    correlation = None
    if "routeKey" in event:
        method, path = event["routeKey"].split(" ", 1)
        app = APIGatewayHttpResolver()
        correlation = correlation_paths.API_GATEWAY_HTTP

        @app.route(path.replace("{", "<").replace("}", ">"), method)
        def route(**_: str) -> dict[str, Any]:
            return dict(work(app.current_event.raw_event))

        inner = app.resolve

    @logger.inject_lambda_context(correlation_id_path=correlation, clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return dict(inner(event, context))

    return handler


def _time(handler: Any, scenario: Scenario, stub: Stub, runs: int, status: int | None = None) -> list[float]:
    """Per-invocation ms; every invocation must make exactly the recorded calls and answer ``status``."""
    samples = []
    for _ in range(runs):
        stub.load(scenario.calls)
        started = time.perf_counter_ns()
        result = handler(scenario.event, Context())
        samples.append((time.perf_counter_ns() - started) / 1e6)
        if stub.pending:
            raise AssertionError(f"calls recorded but not made: {[c['operation'] for c in stub.pending]}")
        if status is not None and result.get("statusCode") != status:
            raise AssertionError(f"{scenario.name} answered {result.get('statusCode')}, recorded {status}")
    return samples


def replay(recording: Path, name: str, out: Path, warmup: int, runs: int) -> None:
    data = json.loads(recording.read_text())
    scenario = next(Scenario(**s) for s in data["scenarios"] if s["name"] == name)
    os.environ.update(data["environment"])
    os.environ.update(FAKE_CREDENTIALS)
    stub = Stub()
    template = Template()
    with _hook_clients(lambda client: client.meta.events.register("before-send.*.*", stub.send)):
        handler = load_handler(template, scenario.function).handler
        sides = {
            "real": (handler, scenario.status),
            "baseline": (_bare_handler(_bare_work(scenario.calls)), 200 if scenario.status else None),
            "floor": (_floor_handler(scenario.calls, scenario.event), 200 if scenario.status else None),
        }
        for side, status in sides.values():
            _time(side, scenario, stub, warmup, status)
        # Interleaved rounds, so that drift of the machine affects every side alike.
        samples: dict[str, list[float]] = {side_name: [] for side_name in sides}
        rounds = 5
        for _ in range(rounds):
            for side_name, (side, status) in sides.items():
                samples[side_name] += _time(side, scenario, stub, runs // rounds, status)
    result = {
        "scenario": name,
        "function": scenario.function,
        "calls": len(scenario.calls),
        "runs": len(samples["real"]),
        "median_ms": statistics.median(samples["real"]),
        "p90_ms": statistics.quantiles(samples["real"], n=10)[-1],
        "baseline_median_ms": statistics.median(samples["baseline"]),
        "baseline_p90_ms": statistics.quantiles(samples["baseline"], n=10)[-1],
        "floor_median_ms": statistics.median(samples["floor"]),
    }
    out.write_text(json.dumps(result))


def main(argv: list[str]) -> None:
    if argv[0] == "record":
        record(Path(argv[1]))
    else:
        replay(Path(argv[1]), argv[2], Path(argv[3]), int(argv[4]), int(argv[5]))


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]
    main(sys.argv[1:])
