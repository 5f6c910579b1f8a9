"""Signed user webhooks from the users table's stream, delivered to a real local receiver."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.config import Config
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devkit.api_client import ApiClient
from devkit.dynamodb_streams import read_table_stream
from devkit.handlers import lambda_context, load_function, started
from local.provisioning import LocalResources
from local.template import Template
from nexus.webhooks import SIGNATURE_HEADER, sign, verify

SECRET_PARAMETER = "/nexus/webhook-secret"


@pytest.fixture
def receiver_url(httpserver: HTTPServer) -> str:
    return httpserver.url_for("/hooks/users")


@pytest.fixture
def api(aws: LocalResources, template: Template, monkeypatch: pytest.MonkeyPatch, receiver_url: str) -> ApiClient:
    monkeypatch.setenv("WEBHOOK_URLS", receiver_url)
    monkeypatch.setenv("LOCAL_MODE", "true")
    monkeypatch.setenv("HTTP_RETRIES", "0")
    return ApiClient(template)


def _secret() -> bytes:
    return str(
        boto3.client("ssm").get_parameter(Name=SECRET_PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    ).encode()


def _stream_event(aws: LocalResources) -> dict[str, Any]:
    stream_arn = aws.physical["UsersTable"]["StreamArn"]
    # botocore's account-based stream endpoints are not routed by moto's in-process mock.
    client = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
    return {"Records": read_table_stream(client, stream_arn)}


def _user_records(event: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [r for r in event["Records"] if r["dynamodb"]["Keys"]["pk"]["S"].startswith("USER#")]}


def test_signatures_verify_and_reject_tampering() -> None:
    header = sign(b"secret", 1_000, b'{"a":1}')

    assert verify(b"secret", header, b'{"a":1}', now=1_010)
    assert not verify(b"secret", header, b'{"a":2}', now=1_010)
    assert not verify(b"other", header, b'{"a":1}', now=1_010)
    assert not verify(b"secret", header, b'{"a":1}', now=2_000)  # replayed too late
    assert not verify(b"secret", "garbage", b'{"a":1}', now=1_010)


def test_user_changes_arrive_signed_without_personal_data(
    api: ApiClient, aws: LocalResources, httpserver: HTTPServer
) -> None:
    received: list[Request] = []

    def receive(request: Request) -> Response:
        received.append(request)
        return Response("ok")

    httpserver.expect_request("/hooks/users", method="POST").respond_with_handler(receive)
    user = api.post("/users", {"username": "hooked", "email": "hooked@example.com", "full_name": "Hooked"}).json()
    api.patch(f"/users/{user['id']}", {"is_active": False, "full_name": "Renamed"})
    api.delete(f"/users/{user['id']}")
    event = _stream_event(aws)

    response = load_function("publish_webhooks").handler(event, lambda_context("PublishWebhooksFunction"))

    assert response == {"batchItemFailures": []}
    secret = _secret()
    bodies = []
    for request in received:
        body = request.get_data()
        assert verify(secret, request.headers[SIGNATURE_HEADER], body, now=int(time.time()))
        bodies.append(json.loads(body))
    assert [b["type"] for b in bodies] == ["user.created", "user.updated", "user.deleted"]
    assert bodies[0]["data"] == {
        "id": user["id"],
        "username": "hooked",
        "is_active": True,
        "created_at": user["created_at"],
    }
    assert bodies[1]["data"]["changed"] == ["full_name", "is_active"]
    assert bodies[2]["data"] == {"id": user["id"]}
    assert all("hooked@example.com" not in json.dumps(b) and "Hooked" not in json.dumps(b) for b in bodies)
    assert len({b["id"] for b in bodies}) == 3
    assert [r.headers["Nexus-Event-Id"] for r in received] == [b["id"] for b in bodies]


def test_a_redelivered_record_keeps_its_id(api: ApiClient, aws: LocalResources, httpserver: HTTPServer) -> None:
    ids: list[str] = []
    httpserver.expect_request("/hooks/users").respond_with_handler(
        lambda request: (ids.append(request.headers["Nexus-Event-Id"]), Response("ok"))[1]
    )
    api.post("/users", {"username": "twice", "email": "twice@example.com"})
    event = _user_records(_stream_event(aws))
    function = load_function("publish_webhooks")

    function.handler(event, lambda_context())
    function.handler(event, lambda_context())

    assert len(ids) == 2
    assert ids[0] == ids[1]


def test_a_failing_receiver_is_a_partial_batch_failure(
    api: ApiClient, aws: LocalResources, httpserver: HTTPServer
) -> None:
    calls: list[str] = []

    def fail_second(request: Request) -> Response:
        calls.append(request.headers["Nexus-Event-Type"])
        return Response("busy", status=500) if len(calls) == 2 else Response("ok")

    httpserver.expect_request("/hooks/users").respond_with_handler(fail_second)
    first = api.post("/users", {"username": "first", "email": "first@example.com"}).json()
    api.patch(f"/users/{first['id']}", {"tags": ["x"]})
    event = _user_records(_stream_event(aws))

    response = load_function("publish_webhooks").handler(event, lambda_context())

    failed_sequence = event["Records"][1]["dynamodb"]["SequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": failed_sequence}]}
    assert calls == ["user.created", "user.updated"]


def test_only_user_items_are_published(api: ApiClient, aws: LocalResources, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hooks/users").respond_with_data("ok")
    api.post("/users", {"username": "solo", "email": "solo@example.com"})
    event = _stream_event(aws)  # the user, two sentinels, its index entries and its counter shard

    load_function("publish_webhooks").handler(event, lambda_context())

    kinds = sorted({r["dynamodb"]["Keys"]["pk"]["S"].split("#")[0] for r in event["Records"]})
    assert kinds == ["COUNTER", "EMAIL", "ENTRY", "USER", "USERNAME"], kinds
    assert len(httpserver.log) == 1


def test_the_welcome_emails_retry_marker_is_not_a_user_change(
    api: ApiClient, aws: LocalResources, httpserver: HTTPServer
) -> None:
    from nexus.users.welcome_lease import WelcomeLeases

    httpserver.expect_request("/hooks/users").respond_with_data("ok")
    user = api.post("/users", {"username": "welcomed", "email": "welcomed@example.com"}).json()
    users = started(WelcomeLeases)
    users.claim_welcome(user["id"], lease_seconds=60)  # what a welcome retry writes
    users.welcome_sent(user["id"])
    event = _user_records(_stream_event(aws))
    assert [r["eventName"] for r in event["Records"]] == ["INSERT", "MODIFY", "MODIFY"]

    load_function("publish_webhooks").handler(event, lambda_context())

    assert [json.loads(request.get_data())["type"] for request, _ in httpserver.log] == ["user.created"]


def test_a_slow_receiver_delays_no_other_and_the_batch_ends_in_time(
    aws: LocalResources,
    template: Template,
    monkeypatch: pytest.MonkeyPatch,
    httpserver: HTTPServer,
    slow_receiver: HTTPServer,
) -> None:
    """Real receivers over HTTP: one answers in 2 s, past the invocation's deadline."""
    fast_url, slow_url = httpserver.url_for("/hooks/fast"), slow_receiver.url_for("/hooks/slow")
    monkeypatch.setenv("WEBHOOK_URLS", f"{slow_url},{fast_url}")
    monkeypatch.setenv("LOCAL_MODE", "true")
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "10")
    api = ApiClient(template)
    fast: list[str] = []
    httpserver.expect_request("/hooks/fast").respond_with_handler(
        lambda request: (fast.append(request.headers["Nexus-Event-Type"]), Response("ok"))[1]
    )
    slow_receiver.expect_request("/hooks/slow").respond_with_handler(lambda request: (time.sleep(2), Response("ok"))[1])
    user = api.post("/users", {"username": "slowpoke", "email": "slowpoke@example.com"}).json()
    api.patch(f"/users/{user['id']}", {"tags": ["x"]})
    event = _user_records(_stream_event(aws))
    context = lambda_context("PublishWebhooksFunction")
    context.get_remaining_time_in_millis = lambda: 3_000  # 2 s margin: 1 s for the deliveries

    started = time.monotonic()
    response = load_function("publish_webhooks").handler(event, context)
    elapsed = time.monotonic() - started

    assert elapsed < 2.0  # one after another: 2 s per record at the slow receiver, 4 s
    assert fast == ["user.created", "user.updated"]
    # The slow receiver had not accepted the first record: the whole batch comes back.
    assert response == {
        "batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in event["Records"]]
    }
    time.sleep(1.5)  # let the slow handler finish before its server stops


def test_each_subscriber_verifies_with_its_own_secret_and_a_rotation_signs_with_both(
    aws: LocalResources, template: Template, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    """One secret per subscriber (issue 25): a subscriber cannot sign events that another accepts.
    While ``b`` rotates, its deliveries carry a signature by the new and one by the old secret."""
    a_url, b_url, c_url = (httpserver.url_for(f"/hooks/{name}") for name in "abc")
    secrets = {a_url: "whsec-a", b_url: ["whsec-b-new", "whsec-b-old"]}  # c has none
    boto3.client("ssm").put_parameter(Name=SECRET_PARAMETER, Value=json.dumps(secrets), Overwrite=True)
    parameters.clear_caches()  # another test of this process read the parameter before it changed
    monkeypatch.setenv("WEBHOOK_URLS", ",".join([a_url, b_url, c_url]))
    monkeypatch.setenv("LOCAL_MODE", "true")
    monkeypatch.setenv("HTTP_RETRIES", "0")
    received: dict[str, list[Request]] = {"a": [], "b": [], "c": []}
    for name in received:
        httpserver.expect_request(f"/hooks/{name}", method="POST").respond_with_handler(
            lambda request, name=name: received[name].append(request) or Response("ok")
        )
    ApiClient(template).post("/users", {"username": "rotated", "email": "rotated@example.com"})

    answer = load_function("publish_webhooks").handler(
        _user_records(_stream_event(aws)), lambda_context("PublishWebhooksFunction")
    )

    [to_a], [to_b] = received["a"], received["b"]
    now = int(time.time())
    assert verify(b"whsec-a", to_a.headers[SIGNATURE_HEADER], to_a.get_data(), now=now)
    assert not verify(b"whsec-a", to_b.headers[SIGNATURE_HEADER], to_b.get_data(), now=now), "a cannot forge to b"
    assert to_b.headers[SIGNATURE_HEADER].count("v1=") == 2
    for secret in (b"whsec-b-new", b"whsec-b-old"):
        assert verify(secret, to_b.headers[SIGNATURE_HEADER], to_b.get_data(), now=now)
    assert received["c"] == [], "nothing goes to a subscriber without its own secret"
    assert answer["batchItemFailures"], "c's deliveries come back, to the dead-letter queue in the end"
