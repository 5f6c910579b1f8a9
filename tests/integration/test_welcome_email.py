"""The welcome email of POST /users: content, exactly once, and the retry path after SES fails."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from local.resources import REGION, LocalResources
from local.template import Template
from nexus.email import EmailService
from nexus.errors import ConflictError
from nexus.operations.registration import UserRegistration
from nexus.services import get_service
from nexus.users import NewUser
from tests.api_client import ApiClient
from tests.conftest import lambda_context, load_function

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
