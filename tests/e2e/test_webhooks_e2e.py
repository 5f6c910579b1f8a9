"""Webhooks end to end: table stream -> PublishWebhooksFunction -> a real receiver, and the DLQ."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devkit.local_server import LocalServer, start_server, stop_server
from local.account import REGION
from nexus.webhooks import SIGNATURE_HEADER, verify


def _aws_endpoint(server: LocalServer) -> str:
    found = re.search(r"AWS_ENDPOINT_URL=(\S+)", server.log.read_text())
    assert found, server.log.read_text()
    return found.group(1)


def _client(server: LocalServer, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=_aws_endpoint(server),
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def hooked_server(make_httpserver: HTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """One server for both tests that take it (a start is 3-10 s). Its receiver is the session's
    ``httpserver`` (``make_httpserver``: each test sets its answer, cleared after it). Only the
    failing receiver's batches are logged as failed, so the dead-letter test's count is its own."""
    url = make_httpserver.url_for("/hooks/users")
    log = tmp_path_factory.mktemp("hooked") / "server.log"
    server = start_server(log, "--parameter-overrides", f"WebhookUrls={url}")
    yield server
    stop_server(server)


def _wait_for(condition: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def test_a_receiver_gets_signed_webhooks(hooked_server: LocalServer, httpserver: HTTPServer) -> None:
    received: list[Request] = []
    httpserver.expect_request("/hooks/users").respond_with_handler(
        lambda request: (received.append(request), Response("ok"))[1]
    )

    created = hooked_server.request("POST", "/users", json_body={"username": "e2ehook", "email": "e2e@example.com"})
    assert created.status == 201

    _wait_for(lambda: received, 30, "the user.created webhook")
    secret = _client(hooked_server, "ssm").get_parameter(Name="/nexus/webhook-secret", WithDecryption=True)
    body = received[0].get_data()
    assert verify(
        secret["Parameter"]["Value"].encode(), received[0].headers[SIGNATURE_HEADER], body, now=int(time.time())
    )
    assert json.loads(body)["type"] == "user.created"


def test_a_failing_receiver_ends_in_the_dead_letter_queue(hooked_server: LocalServer, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hooks/users").respond_with_data("down", status=500)
    sqs = _client(hooked_server, "sqs")
    queue_url = sqs.get_queue_url(QueueName="nexus-local-WebhookDeadLetterQueue")["QueueUrl"]

    hooked_server.request("POST", "/users", json_body={"username": "e2efail", "email": "fail@example.com"})

    messages = _wait_for(
        lambda: sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages"), 60, "the dead letter"
    )
    letter = json.loads(messages[0]["Body"])
    assert letter["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert letter["DDBStreamBatchInfo"]["batchSize"] == 1
    attempts = [
        line
        for line in hooked_server.log.read_text().splitlines()
        if line.startswith("DYNAMODB UsersTable PublishWebhooksFunction 1 records 1 failed")
    ]
    assert len(attempts) == 4  # the first try and MaximumRetryAttempts (3) more


def test_a_slow_receiver_neither_times_out_the_batch_nor_delays_a_fast_one(
    httpserver: HTTPServer, slow_receiver: HTTPServer, tmp_path: Path
) -> None:
    """The function gets 6 s here (WebhookFunctionTimeout; 30 s deployed), 2 s of it the margin.

    The local emulator counts a cold start's init inside the timeout (Lambda does not), so the
    deliveries get what is left of 4 s. The slow receiver answers after 6 s, past any deadline;
    listed first, it used to hold the fast one for its whole HTTP timeout (5 s) and time the
    invocation out. (That the retries end in the dead-letter queue is the test above.)
    """
    fast: list[Request] = []
    httpserver.expect_request("/hooks/fast").respond_with_handler(
        lambda request: (fast.append(request), Response("ok"))[1]
    )
    slow_receiver.expect_request("/hooks/slow").respond_with_handler(lambda request: (time.sleep(6), Response("ok"))[1])
    urls = f"{slow_receiver.url_for('/hooks/slow')},{httpserver.url_for('/hooks/fast')}"
    server = start_server(
        tmp_path / "server.log", "--parameter-overrides", f"WebhookUrls={urls}", "WebhookFunctionTimeout=6"
    )

    def first_attempt() -> list[str]:
        prefix = "DYNAMODB UsersTable PublishWebhooksFunction 1 records"
        return [line for line in server.log.read_text().splitlines() if line.startswith(prefix)]

    try:
        created = server.request("POST", "/users", json_body={"username": "e2eslow", "email": "slow@example.com"})
        assert created.status == 201
        line = _wait_for(first_attempt, 30, "the first invocation")[0]
    finally:
        stop_server(server)

    # It returned inside its timeout, reporting the record (an invocation that timed out says "error")...
    assert " 1 failed " in line, line
    # The deadline is 4 s after the invocation began; one receiver after the other took >= 5 s.
    assert int(line.split()[-2]) < 5000, line
    # ...and the fast receiver had the event meanwhile.
    assert len(fast) >= 1
    assert json.loads(fast[0].get_data())["type"] == "user.created"
