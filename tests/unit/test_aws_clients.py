"""``nexus.aws``: one session, one client per service, each built at its first use (issue 13)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import botocore.session
import pytest

from devkit.api_client import ApiClient
from local.account import FAKE_CREDENTIALS
from local.provisioning import LocalResources
from local.template import Template
from nexus import aws as clients


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every botocore client created, by service (real clients, counted)."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    counts: Counter[str] = Counter()
    original = botocore.session.Session.create_client

    def create_client(self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        counts[service_name] += 1
        return original(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    clients.reset()
    yield counts
    clients.reset()


def test_a_client_is_built_at_its_first_use_once(created: Counter[str]) -> None:
    sqs = clients.client("sqs")

    assert clients.client("sqs") is sqs
    assert not sqs.built
    assert created == Counter()

    assert sqs.meta.service_model.service_name == "sqs"
    assert sqs.can_paginate("list_queues")
    assert sqs.built
    assert created == Counter({"sqs": 1})


def test_threads_racing_to_the_first_use_share_one_client(created: Counter[str]) -> None:
    kinesis = clients.client("kinesis")
    barrier = threading.Barrier(4)
    seen: list[Any] = []

    def use() -> None:
        barrier.wait()
        seen.append(kinesis.resolve())

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(client) for client in seen}) == 1
    assert created == Counter({"kinesis": 1})


def test_every_client_shares_the_one_session(created: Counter[str]) -> None:
    first, second = clients.client("dynamodb").resolve(), clients.client("sesv2").resolve()

    assert first is not second
    assert clients.session() is clients.session()
    assert created == Counter({"dynamodb": 1, "sesv2": 1})


def test_reset_forgets_the_clients(created: Counter[str]) -> None:
    before = clients.client("sqs").resolve()
    clients.reset()

    assert clients.client("sqs").resolve() is not before
    assert created == Counter({"sqs": 2})


def test_create_user_cold_start_and_happy_path_build_no_sqs_client(
    aws: LocalResources, template: Template, created: Counter[str]
) -> None:
    """The welcome queue is for when SES fails: a create that sends builds no SQS client."""
    api = ApiClient(template)
    api.module("CreateUserFunction")

    # None: each client is built by the first request that calls it (the idempotency store,
    # which would build the DynamoDB one, is built by the first request with a key).
    assert created == Counter()
    response = api.post("/users", {"username": "lazy", "email": "lazy@example.com"})

    assert response.status == 201, response.body
    assert "sqs" not in created
    assert set(created) == {"dynamodb", "sesv2", "kinesis"}
    assert all(count == 1 for count in created.values())


@pytest.mark.parametrize(
    ("service", "attempts"),
    # Every client 3; the calls a sign-up makes after its commit 2 (nexus.aws: the time budget);
    # the pre-traffic check's Invoke of a new version 1 (its one answer is what is judged).
    [("dynamodb", 3), ("secretsmanager", 3), ("sesv2", 2), ("sqs", 2), ("kinesis", 2), ("lambda", 1)],
)
def test_each_client_makes_the_attempts_its_comment_says(created: Counter[str], service: str, attempts: int) -> None:
    assert clients.client(service).meta.config.retries["total_max_attempts"] == attempts


def test_a_failing_call_is_attempted_exactly_that_often(created: Counter[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """What botocore really does with the configuration: an SQS call that always gets a 500."""
    import http.server

    requests: list[str] = []

    class AlwaysFails(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            requests.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AlwaysFails)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        with pytest.raises(botocore.exceptions.ClientError):
            clients.client("sqs").list_queues()
    finally:
        server.shutdown()
        server.server_close()

    assert len(requests) == 2
