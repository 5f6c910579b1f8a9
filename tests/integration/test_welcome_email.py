"""The welcome email of POST /users: content, exactly once, and the retry path after SES fails."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.session
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from devkit.api_client import ApiClient
from devkit.handlers import lambda_context, load_function, started
from local.account import REGION
from local.provisioning import LocalResources
from local.template import Template
from nexus.email import EmailService
from nexus.errors import ConflictError
from nexus.operations.registration import UserRegistration
from nexus.services import get_service
from nexus.users import NewUser
from nexus.users.welcome_lease import WelcomeLeases

SENDER = "noreply@example.com"


def sent_mail() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


@pytest.fixture
def api(aws: LocalResources, template: Template) -> ApiClient:
    return ApiClient(template)


@pytest.fixture
def email_requests(api: ApiClient) -> list[dict[str, Any]]:
    """The SendEmail requests the create function makes (moto keeps only one body part)."""
    api.module("CreateUserFunction")  # cold start: builds the EmailService
    requests: list[dict[str, Any]] = []
    client = get_service(EmailService).client
    client.meta.events.register("provide-client-params.sesv2.SendEmail", lambda params, **_: requests.append(params))
    return requests


def _queued_retries(aws: LocalResources) -> list[dict[str, Any]]:
    response = boto3.client("sqs").receive_message(
        QueueUrl=aws.physical["WelcomeEmailQueue"]["Ref"], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return response.get("Messages", [])


def _user_item(table_items: Any, user_id: str) -> dict[str, Any]:
    return next(item for item in table_items("UsersTable") if item["pk"]["S"] == f"USER#{user_id}")


def _welcome_attributes(table_items: Any, user_id: str) -> dict[str, Any]:
    return {name: value for name, value in _user_item(table_items, user_id).items() if name.startswith("welcome_")}


def _queued_after_ses_failure(api: ApiClient, aws: LocalResources, username: str) -> tuple[str, dict[str, Any]]:
    """Sign ``username`` up while SES refuses the sender: (user id, the queued retry message)."""
    ses = boto3.client("ses")
    ses.delete_identity(Identity=SENDER)
    created = api.post("/users", {"username": username, "email": f"{username}@example.com"})
    assert created.status == 201
    ses.verify_email_identity(EmailAddress=SENDER)
    [message] = _queued_retries(aws)
    return created.json()["id"], message


def _sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:welcome",
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def test_the_welcome_email_reaches_the_new_user(api: ApiClient, email_requests: list[dict[str, Any]]) -> None:
    created = api.post("/users", {"username": "alice", "email": "alice@example.com", "full_name": "Alice Liddell"})

    assert created.status == 201
    [mail] = sent_mail()
    assert mail.destinations == {"ToAddresses": ["alice@example.com"]}
    assert mail.subject == "Welcome to Nexus, alice!"
    assert "Alice Liddell" in mail.body
    [request] = email_requests
    assert request["FromEmailAddress"] == f"Nexus <{SENDER}>"
    text = request["Content"]["Simple"]["Body"]["Text"]["Data"]
    assert text.startswith("Hello Alice Liddell,")
    assert '"alice"' in text


def test_a_full_name_with_markup_reaches_the_html_escaped(api: ApiClient, email_requests: list[dict[str, Any]]) -> None:
    api.post("/users", {"username": "mallory", "email": "m@example.com", "full_name": "<script>alert(1)</script>"})

    body = email_requests[0]["Content"]["Simple"]["Body"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body["Html"]["Data"]
    assert "<script>" not in body["Html"]["Data"]
    assert "Hello <script>alert(1)</script>," in body["Text"]["Data"]


def test_a_full_name_with_a_newline_is_422_and_nothing_is_sent(api: ApiClient, table_items: Any) -> None:
    response = api.post(
        "/users", {"username": "eve", "email": "eve@example.com", "full_name": "Eve\r\nBcc: x@evil.test"}
    )

    assert response.status == 422
    assert sent_mail() == []
    assert table_items("UsersTable") == []


def test_three_retries_with_one_key_send_one_email(api: ApiClient) -> None:
    body = {"username": "once", "email": "once@example.com"}

    statuses = [api.post("/users", body, headers={"Idempotency-Key": "k"}).status for _ in range(3)]

    assert statuses == [201, 201, 201]
    assert len(sent_mail()) == 1


def test_when_ses_rejects_the_sender_the_user_is_still_created_and_the_retry_sends_once(
    api: ApiClient, aws: LocalResources, template: Template, table_items: Any
) -> None:
    ses = boto3.client("ses")
    ses.delete_identity(Identity=SENDER)

    created = api.post("/users", {"username": "unlucky", "email": "unlucky@example.com"})

    assert created.status == 201
    assert any(item["pk"]["S"].startswith("USER#") for item in table_items("UsersTable"))
    assert sent_mail() == []
    queued = _queued_retries(aws)
    assert [json.loads(m["Body"]) for m in queued] == [{"user_id": created.json()["id"]}]

    ses.verify_email_identity(EmailAddress=SENDER)
    retry = load_function("send_welcome_email")
    first = retry.handler(_sqs_event(queued), lambda_context("SendWelcomeEmailFunction"))
    again = retry.handler(_sqs_event(queued), lambda_context("SendWelcomeEmailFunction"))  # redelivered

    assert first == again == {"batchItemFailures": []}
    [mail] = sent_mail()
    assert mail.destinations["ToAddresses"] == ["unlucky@example.com"]


def test_a_sign_up_that_sends_writes_no_record_of_the_welcome(
    api: ApiClient, aws: LocalResources, table_items: Any
) -> None:
    created = api.post("/users", {"username": "happy", "email": "happy@example.com"})

    assert created.status == 201
    assert len(sent_mail()) == 1
    assert table_items("IdempotencyTable") == []
    assert _welcome_attributes(table_items, created.json()["id"]) == {}
    assert _queued_retries(aws) == []


def test_the_queue_client_is_built_only_when_ses_fails(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    create_client = botocore.session.Session.create_client

    def recording(self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", recording)
    api.module("CreateUserFunction")  # the cold start
    assert api.post("/users", {"username": "sent", "email": "sent@example.com"}).status == 201
    assert "sqs" not in built

    boto3.client("ses").delete_identity(Identity=SENDER)
    assert api.post("/users", {"username": "queued", "email": "queued@example.com"}).status == 201
    assert api.post("/users", {"username": "queued2", "email": "queued2@example.com"}).status == 201

    assert built.count("sqs") == 1  # built at the first failure, then reused


def test_duplicate_messages_for_one_user_send_one_email(api: ApiClient, aws: LocalResources, table_items: Any) -> None:
    user_id, message = _queued_after_ses_failure(api, aws, "doubled")
    duplicate = {**message, "MessageId": "another-message-id"}  # e.g. a SendMessage retried by botocore
    retry = load_function("send_welcome_email")

    response = retry.handler(_sqs_event([message, duplicate]), lambda_context("SendWelcomeEmailFunction"))

    assert response == {"batchItemFailures": []}
    assert len(sent_mail()) == 1
    assert set(_welcome_attributes(table_items, user_id)) == {"welcome_sent_at"}  # the lease is gone


def test_a_retry_that_ses_refuses_again_drops_its_lease_and_the_next_delivery_sends_once(
    api: ApiClient, aws: LocalResources, table_items: Any
) -> None:
    user_id, message = _queued_after_ses_failure(api, aws, "stubborn")
    ses = boto3.client("ses")
    ses.delete_identity(Identity=SENDER)
    retry = load_function("send_welcome_email")

    failed = retry.handler(_sqs_event([message]), lambda_context("SendWelcomeEmailFunction"))

    assert failed == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert _welcome_attributes(table_items, user_id) == {}  # not sent, and free to retry at once
    ses.verify_email_identity(EmailAddress=SENDER)
    assert retry.handler(_sqs_event([message]), lambda_context()) == {"batchItemFailures": []}
    assert retry.handler(_sqs_event([message]), lambda_context()) == {"batchItemFailures": []}
    assert len(sent_mail()) == 1


def test_a_message_for_a_user_another_consumer_is_sending_comes_back_and_is_then_dropped(
    api: ApiClient, aws: LocalResources
) -> None:
    user_id, message = _queued_after_ses_failure(api, aws, "raced")
    retry = load_function("send_welcome_email")
    users = started(WelcomeLeases)
    lease = users.claim_welcome(user_id, lease_seconds=60)  # another consumer, mid-send
    assert lease.claim.value == "claimed"

    while_leased = retry.handler(_sqs_event([message]), lambda_context("SendWelcomeEmailFunction"))
    users.welcome_sent(user_id)  # the other consumer's send went out
    after = retry.handler(_sqs_event([message]), lambda_context("SendWelcomeEmailFunction"))

    assert while_leased == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert after == {"batchItemFailures": []}
    assert sent_mail() == []  # only the other consumer sent (moto saw no SendEmail from it here)


def test_a_consumer_whose_lease_lapsed_and_was_taken_over_leaves_the_new_lease_alone(
    api: ApiClient, aws: LocalResources, table_items: Any
) -> None:
    user_id = api.post("/users", {"username": "slow", "email": "slow@example.com"}).json()["id"]
    users = started(WelcomeLeases)
    slow = users.claim_welcome(user_id, lease_seconds=0)  # lapses at once
    taken_over = users.claim_welcome(user_id, lease_seconds=60)
    assert (slow.claim.value, taken_over.claim.value) == ("claimed", "claimed")

    users.release_welcome(user_id, slow)  # the slow consumer's send failed
    kept = _welcome_attributes(table_items, user_id)
    users.release_welcome(user_id, taken_over)

    assert kept["welcome_lease_id"] == {"S": taken_over.lease_id}
    assert _welcome_attributes(table_items, user_id) == {}


def test_a_lease_that_lapsed_with_its_consumer_is_taken_over_and_the_email_sent_once(
    api: ApiClient, aws: LocalResources, table_items: Any
) -> None:
    user_id, message = _queued_after_ses_failure(api, aws, "orphaned")
    retry = load_function("send_welcome_email")
    started(WelcomeLeases).claim_welcome(user_id, lease_seconds=60)  # a consumer that then died
    boto3.client("dynamodb").update_item(  # ...60 seconds ago
        TableName=aws.physical["UsersTable"]["Ref"],
        Key={"pk": {"S": f"USER#{user_id}"}},
        UpdateExpression="SET welcome_lease_until = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )

    response = retry.handler(_sqs_event([message]), lambda_context("SendWelcomeEmailFunction"))
    again = retry.handler(_sqs_event([message]), lambda_context("SendWelcomeEmailFunction"))

    assert response == again == {"batchItemFailures": []}
    [mail] = sent_mail()
    assert mail.destinations["ToAddresses"] == ["orphaned@example.com"]
    assert set(_welcome_attributes(table_items, user_id)) == {"welcome_sent_at"}


def test_the_failure_is_counted_as_a_metric(api: ApiClient, capsys: pytest.CaptureFixture[str]) -> None:
    boto3.client("ses").delete_identity(Identity=SENDER)

    api.post("/users", {"username": "counted", "email": "counted@example.com"})

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [blob["WelcomeEmailFailures"] for blob in emf if "WelcomeEmailFailures" in blob] == [[1.0]]


def test_an_email_neither_sent_nor_queued_is_counted_and_logged_with_the_user(
    api: ApiClient, aws: LocalResources, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    boto3.client("ses").delete_identity(Identity=SENDER)
    boto3.client("sqs").delete_queue(QueueUrl=aws.physical["WelcomeEmailQueue"]["Ref"])

    created = api.post("/users", {"username": "stranded", "email": "stranded@example.com"})

    assert created.status == 500
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [blob["WelcomeEmailsNotQueued"] for blob in emf if "WelcomeEmailsNotQueued" in blob] == [[1.0]]
    [stranded] = [r for r in caplog.records if r.getMessage() == "welcome email neither sent nor queued"]
    assert stranded.levelname == "ERROR"
    assert stranded.__dict__["user_id"].startswith("01")  # the ULID the runbook re-queues by hand


def test_a_retry_that_fails_again_is_reported_and_a_deleted_user_is_dropped(
    api: ApiClient, aws: LocalResources
) -> None:
    ses = boto3.client("ses")
    ses.delete_identity(Identity=SENDER)
    kept = api.post("/users", {"username": "kept", "email": "kept@example.com"}).json()
    gone = api.post("/users", {"username": "gone", "email": "gone@example.com"}).json()
    api.delete(f"/users/{gone['id']}")
    queued = _queued_retries(aws)
    by_user = {json.loads(m["Body"])["user_id"]: m for m in queued}
    retry = load_function("send_welcome_email")

    response = retry.handler(_sqs_event([by_user[kept["id"]], by_user[gone["id"]]]), lambda_context())

    assert response == {"batchItemFailures": [{"itemIdentifier": by_user[kept["id"]]["MessageId"]}]}
    assert sent_mail() == []


@pytest.mark.server
# Called directly, not through a handler: there is no Lambda context to register.
@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time left")
def test_concurrent_duplicates_send_one_email(server_stack: LocalResources) -> None:
    registration = get_service(UserRegistration)
    start = threading.Barrier(8)

    def post(_: int) -> str:
        start.wait()
        try:
            registration.create_user_once(NewUser(username="racer", email="racer@example.com"), "same-key")
        except ConflictError as exc:
            return exc.code
        return "created"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(post, range(8)))

    assert "created" in outcomes
    assert set(outcomes) <= {"created", "request_in_progress"}
    assert len(sent_mail()) == 1


@pytest.mark.server
def test_concurrent_consumers_of_one_user_take_one_lease(server_stack: LocalResources) -> None:
    registration = get_service(UserRegistration)
    users = started(WelcomeLeases)
    user = registration.create_user_with_welcome(NewUser(username="leased", email="leased@example.com"))
    start = threading.Barrier(8)

    def claim(_: int) -> str:
        start.wait()
        return users.claim_welcome(user.id, lease_seconds=60).claim.value

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(claim, range(8)))

    assert outcomes == ["claimed"] + ["in_progress"] * 7


def test_a_sent_email_whose_marker_cannot_be_written_is_not_retried(
    api: ApiClient, aws: LocalResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, message = _queued_after_ses_failure(api, aws, "unmarked")
    retry = load_function("send_welcome_email")

    def throttled(self: WelcomeLeases, user_id: str) -> None:
        raise RuntimeError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(WelcomeLeases, "welcome_sent", throttled)

    response = retry.handler(_sqs_event([message]), lambda_context("SendWelcomeEmailFunction"))

    assert response == {"batchItemFailures": []}  # a redelivery would mail the user again
    assert len(sent_mail()) == 1
