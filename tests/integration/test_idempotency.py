"""POST /users with an Idempotency-Key: exactly once, also under retries and concurrency."""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from devkit.api_client import ApiClient
from devkit.kinesis import read_stream
from devkit.users_api import counts
from local.provisioning import LocalResources
from local.template import Template
from nexus.api.errors import status_for
from nexus.errors import ConflictError
from nexus.operations.registration import UserRegistration
from nexus.services import get_service
from nexus.users import NewUser, UserService

BODY = {"username": "once", "email": "once@example.com", "full_name": "Once Only"}


@pytest.fixture
def api(aws: LocalResources, template: Template) -> ApiClient:
    return ApiClient(template)


def _user_items(table_items: Any) -> list[dict[str, Any]]:
    return [item for item in table_items("UsersTable") if item["pk"]["S"].startswith("USER#")]


def _created_events(aws: LocalResources) -> list[dict[str, Any]]:
    records = read_stream(boto3.client("kinesis"), aws.physical["AnalyticsStream"]["Ref"])
    return [r for r in records if b"user_created" in base64.b64decode(r["kinesis"]["data"])]


def test_three_retries_with_one_key_create_one_user(api: ApiClient, aws: LocalResources, table_items: Any) -> None:
    responses = [api.post("/users", BODY, headers={"Idempotency-Key": "retry-1"}) for _ in range(3)]

    assert [r.status for r in responses] == [201, 201, 201]
    assert responses[1].body == responses[0].body == responses[2].body
    assert responses[2].headers["Location"] == f"/users/{responses[0].json()['id']}"
    assert len(_user_items(table_items)) == 1
    assert len(_created_events(aws)) == 1
    assert counts(table_items) == (1, 1)


def test_the_same_key_with_another_body_is_409_and_writes_nothing(api: ApiClient, table_items: Any) -> None:
    first = api.post("/users", BODY, headers={"Idempotency-Key": "reused"})
    users_before = table_items("UsersTable")

    second = api.post("/users", {**BODY, "full_name": "Someone Else"}, headers={"Idempotency-Key": "reused"})

    assert first.status == 201
    assert (second.status, second.error_code) == (409, "idempotency_key_reused")
    assert table_items("UsersTable") == users_before


def test_a_key_is_the_callers_own(api: ApiClient, table_items: Any) -> None:
    """Another client with the same key makes its own attempt: no replay of the first client's
    user, and no 409 idempotency_key_reused for a body of its own."""
    first = api.post("/users", BODY, headers={"Idempotency-Key": "shared"}, subject="client-a")

    same_body = api.post("/users", BODY, headers={"Idempotency-Key": "shared"}, subject="client-b")
    own_body = api.post(
        "/users",
        {"username": "other", "email": "other@example.com"},
        headers={"Idempotency-Key": "shared"},
        subject="client-c",
    )
    replay = api.post("/users", BODY, headers={"Idempotency-Key": "shared"}, subject="client-a")

    assert first.status == 201
    assert (same_body.status, same_body.error_code) == (409, "username_taken")  # its own sign-up, refused
    assert own_body.status == 201, own_body.body
    assert own_body.json()["id"] != first.json()["id"]
    assert (replay.status, replay.body) == (201, first.body)
    assert sorted(item["username"]["S"] for item in _user_items(table_items)) == ["once", "other"]


def test_a_request_still_in_progress_is_409_not_500(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    inner: dict[str, Any] = {}
    create = UserService.create_user

    def create_while_a_retry_arrives(self: UserService, new: NewUser, creation_key: str | None = None) -> Any:
        inner["response"] = api.post("/users", BODY, headers={"Idempotency-Key": "slow"})
        return create(self, new, creation_key)

    monkeypatch.setattr(UserService, "create_user", create_while_a_retry_arrives)

    outer = api.post("/users", BODY, headers={"Idempotency-Key": "slow"})

    assert outer.status == 201
    assert (inner["response"].status, inner["response"].error_code) == (409, "request_in_progress")


def test_without_a_key_every_request_is_a_new_attempt(api: ApiClient) -> None:
    assert api.post("/users", BODY).status == 201
    assert api.post("/users", BODY).error_code == "username_taken"


def test_a_failed_first_attempt_can_be_retried_with_the_same_key(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = UserService.create_user
    attempts = {"n": 0}

    def fail_once(self: UserService, new: NewUser, creation_key: str | None = None) -> Any:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("transient")
        return create(self, new, creation_key)

    monkeypatch.setattr(UserService, "create_user", fail_once)

    assert api.post("/users", BODY, headers={"Idempotency-Key": "flaky"}).status == 500
    assert api.post("/users", BODY, headers={"Idempotency-Key": "flaky"}).status == 201


@pytest.mark.parametrize("key", ["", "has space", "x" * 129, "tab\there"])
def test_a_malformed_key_is_422(api: ApiClient, table_items: Any, key: str) -> None:
    response = api.post("/users", BODY, headers={"Idempotency-Key": key})

    assert response.status == 422
    assert response.json()["error"]["details"][0]["field"] == "idempotency-key"
    assert _user_items(table_items) == []


@pytest.mark.server
# Called directly, not through a handler: there is no Lambda context to register.
@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time left")
def test_concurrent_duplicates_create_one_user(server_stack: LocalResources) -> None:
    registration = get_service(UserRegistration)
    start = threading.Barrier(8)

    def post(_: int) -> str:
        start.wait()
        try:
            registration.create_user_once(NewUser.model_validate(BODY), "concurrent")
        except ConflictError as exc:
            return f"{status_for(exc)} {exc.code}"
        return "201"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(post, range(8)))

    assert outcomes.count("201") >= 1
    assert set(outcomes) <= {"201", "409 request_in_progress"}
    client = server_stack.client("dynamodb")
    items = client.scan(TableName=server_stack.physical["UsersTable"]["Ref"])["Items"]
    assert len([i for i in items if i["pk"]["S"].startswith("USER#")]) == 1


def test_one_store_from_the_composition_root_keeps_the_user_as_the_models_json(
    api: ApiClient, aws: LocalResources, table_items: Any
) -> None:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from nexus.idempotency import IdempotencyStore

    created = api.post("/users", BODY, headers={"Idempotency-Key": "stored"})

    store = get_service(IdempotencyStore).layer
    assert isinstance(store, DynamoDBPersistenceLayer)
    assert store.table_name == aws.physical["IdempotencyTable"]["Ref"]
    [record] = table_items("IdempotencyTable")  # the request's only: the welcome email keeps none
    assert record["status"]["S"] == "COMPLETED"
    assert json.loads(record["data"]["S"]) == created.json()


def test_a_keyed_retry_after_an_attempt_that_committed_and_lost_its_answer_gets_that_users_201(
    api: ApiClient, aws: LocalResources, table_items: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 25: the first attempt commits the user, then dies before answering (here its welcome
    send raises past everything, as a timeout ends a function); the client retries with its key."""
    from nexus.operations.welcome import WelcomeEmails

    send = WelcomeEmails.send_or_queue

    def die(self: WelcomeEmails, user: Any) -> bool:
        raise TimeoutError("Task timed out after 10.00 seconds")

    monkeypatch.setattr(WelcomeEmails, "send_or_queue", die)
    first = api.post("/users", BODY, headers={"Idempotency-Key": "timed-out"})
    assert first.status == 500
    [committed] = _user_items(table_items)
    monkeypatch.setattr(WelcomeEmails, "send_or_queue", send)

    retried = api.post("/users", BODY, headers={"Idempotency-Key": "timed-out"})
    replayed = api.post("/users", BODY, headers={"Idempotency-Key": "timed-out"})
    other_key = api.post("/users", BODY, headers={"Idempotency-Key": "another-key"})

    assert retried.status == 201, retried.body
    assert retried.json()["id"] == committed["user_id"]["S"]
    assert (replayed.status, replayed.body) == (201, retried.body), "stored under the key from then on"
    assert (other_key.status, other_key.error_code) == (409, "username_taken"), "another key is another sign-up"
    assert len(_user_items(table_items)) == 1
    queued = boto3.client("sqs").receive_message(QueueUrl=aws.physical["WelcomeEmailQueue"]["Ref"])["Messages"]
    assert [json.loads(m["Body"]) for m in queued] == [{"user_id": committed["user_id"]["S"]}]
    events = [json.loads(base64.b64decode(record["kinesis"]["data"])) for record in _created_events(aws)]
    created = [e for e in events if e["user_id"] == committed["user_id"]["S"]]
    assert [e["event_id"] for e in created] == [f"user_created:{committed['user_id']['S']}"] * len(created)
    assert created, "the event is recorded (again: its id makes the consumer count it once)"


def test_with_too_little_time_left_the_welcome_is_queued_not_sent(
    aws: LocalResources, template: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every call after the commit is budgeted from the time left: a sign-up that reaches its
    welcome with less than the send's budget queues it instead of risking the function's end."""
    from devkit import api_client, handlers

    context = handlers.lambda_context("CreateUserFunction")
    context.get_remaining_time_in_millis = lambda: 4_000  # type: ignore[method-assign]

    monkeypatch.setattr(api_client, "lambda_context", lambda name="test": context)

    response = ApiClient(template).post("/users", {"username": "hurried", "email": "hurried@example.com"})

    assert response.status == 201
    queued = boto3.client("sqs").receive_message(QueueUrl=aws.physical["WelcomeEmailQueue"]["Ref"])["Messages"]
    assert [json.loads(m["Body"])["user_id"] for m in queued] == [response.json()["id"]]
