"""Records dropped or retried say so (issue 25): one log line each, what and why; a poison
record reaches the dead-letter queue once, also when its batch is delivered again."""

from __future__ import annotations

from typing import Any

import pytest

from devkit.api_client import ApiClient
from devkit.handlers import lambda_context, load_function
from devkit.kinesis import kinesis_event, kinesis_record
from local.provisioning import LocalResources
from local.template import Template
from nexus.operations.count_events import EventCounting
from tests.integration.test_analytics import _dead_letters, _event_data, consumer  # noqa: F401 - fixture
from tests.integration.test_webhooks import _stream_event


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[Any]:
    return [record for record in caplog.records if record.getMessage() == text]


def test_a_malformed_welcome_message_is_retried_with_a_line_saying_why(
    aws: LocalResources, caplog: pytest.LogCaptureFixture
) -> None:
    event = {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "r",
                "body": "not json",
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "x",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:welcome",
                "awsRegion": "us-east-1",
            }
        ]
    }

    answer = load_function("send_welcome_email").handler(event, lambda_context("SendWelcomeEmailFunction"))

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    [line] = messages(caplog, "record failed; it will be delivered again")
    assert (line.record_id, line.error) == ("m-1", "JSONDecodeError")  # type: ignore[attr-defined]


def test_stream_records_of_other_items_are_skipped_with_a_line_naming_their_kind_only(
    aws: LocalResources, template: Template, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WEBHOOK_URLS", "http://127.0.0.1:9/hooks")
    monkeypatch.setenv("LOCAL_MODE", "true")
    ApiClient(template).post("/users", {"username": "skipper", "email": "skipper@example.com"})
    event = _stream_event(aws)
    others = [r for r in event["Records"] if not r["dynamodb"]["Keys"]["pk"]["S"].startswith("USER#")]

    load_function("publish_webhooks").handler({"Records": others}, lambda_context("PublishWebhooksFunction"))

    lines = messages(caplog, "stream record skipped: not a user item")
    assert len(lines) == len(others) > 0
    assert {line.kind for line in lines} >= {"USERNAME", "EMAIL", "COUNTER", "ENTRY"}  # type: ignore[attr-defined]
    assert "skipper" not in caplog.text


def test_a_batch_holding_a_poison_record_delivered_twice_dead_letters_it_once(
    consumer: EventCounting,  # noqa: F811 - the fixture
    aws: LocalResources,
    caplog: pytest.LogCaptureFixture,
) -> None:
    batch = [kinesis_record(_event_data("signup"), 700), kinesis_record(b"not json", 701)]

    for _ in range(2):
        assert consumer.handle(kinesis_event(batch), lambda_context()) == {"batchItemFailures": []}

    assert [letter["sequence_number"] for letter in _dead_letters(aws)] == ["701"]
    assert len(messages(caplog, "poison record skipped: already in the dead-letter queue")) == 1
