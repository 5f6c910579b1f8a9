"""Analytics: the buffered producer, POST /events, the counting consumer and the stats."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from devkit.api_client import ApiClient
from devkit.handlers import lambda_context
from devkit.kinesis import kinesis_event, kinesis_record, read_stream
from local.provisioning import LocalResources
from nexus.analytics import AnalyticsService
from nexus.analytics.counts import EventCountStore
from nexus.operations.count_events import EventCounting
from nexus.settings import AnalyticsStreamSettings, EventCountSettings

TODAY = datetime.now(UTC).date()


class CallLog:
    """Counts the AWS calls a client makes (botocore event hooks), by operation."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.*.*", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, params))

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)


def _stream(aws: LocalResources) -> str:
    return aws.physical["AnalyticsStream"]["Ref"]


def _count_settings(aws: LocalResources) -> EventCountSettings:
    return EventCountSettings.model_construct(
        analytics_table_name=aws.physical["AnalyticsTable"]["Ref"],
        analytics_dead_letter_queue_url=aws.physical["AnalyticsDeadLetterQueue"]["Ref"],
    )


@pytest.fixture
def kinesis(aws: LocalResources) -> Any:
    return boto3.client("kinesis")


@pytest.fixture
def producer(aws: LocalResources, kinesis: Any) -> AnalyticsService:
    settings = AnalyticsStreamSettings.model_construct(analytics_stream_name=_stream(aws))
    service = AnalyticsService(settings, client=kinesis, sleep=lambda _: None)
    service.initialize()
    return service


# Producer ------------------------------------------------------------------------------------


def test_1200_events_take_three_put_records_calls(
    producer: AnalyticsService, kinesis: Any, aws: LocalResources
) -> None:
    log = CallLog(kinesis)

    for number in range(1200):
        producer.track_event("page_view", f"user-{number % 7}", {"page": f"/p/{number}"})
    producer.end_invocation()

    assert log.count("PutRecords") == 3
    assert [len(params["Records"]) for _, params in log.calls] == [500, 500, 200]
    records = read_stream(kinesis, _stream(aws))
    assert len(records) == 1200


def test_records_are_keyed_by_user_and_randomly_when_anonymous(producer: AnalyticsService, kinesis: Any) -> None:
    log = CallLog(kinesis)

    producer.track_user_action("user-1", "clicked", {"button": "save"})
    producer.track_page_view(None, "/home")
    producer.track_page_view(None, "/home")
    producer.end_invocation()

    keys = [record["PartitionKey"] for record in log.calls[0][1]["Records"]]
    assert keys[0] == "user-1"
    assert len(set(keys[1:])) == 2
    first = json.loads(log.calls[0][1]["Records"][0]["Data"])
    assert first["event_type"] == "user_action"
    assert first["properties"] == {"action": "clicked", "context": {"button": "save"}}


def test_put_records_batches_respect_the_5_mib_limit() -> None:
    from nexus.analytics.service import StreamRecord, put_records_batches

    records = [StreamRecord(b"x" * (900 * 1024), "k") for _ in range(12)]

    batches = list(put_records_batches(records))

    assert [len(batch) for batch in batches] == [5, 5, 2]
    assert all(sum(r.size for r in batch) <= 5 * 1024 * 1024 for batch in batches)


def _partial_failure(failing_calls: int, failed_positions: set[int]) -> Any:
    """A before-call hook answering PutRecords itself: the first calls fail some entries."""
    sent: list[list[bytes]] = []

    def answer(model: Any, params: dict[str, Any], **_: Any) -> Any:
        if model.name != "PutRecords":
            return None
        entries = json.loads(params["body"])["Records"]
        sent.append([base64.b64decode(entry["Data"]) for entry in entries])
        failing = len(sent) <= failing_calls
        results = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"}
            if failing and index in failed_positions
            else {"SequenceNumber": str(index), "ShardId": "shardId-000000000000"}
            for index in range(len(entries))
        ]
        failed = sum(1 for r in results if "ErrorCode" in r)
        return (AWSResponse("", 200, {}, None), {"FailedRecordCount": failed, "Records": results})

    answer.sent = sent  # type: ignore[attr-defined]
    return answer


def test_a_partial_failure_resends_only_the_failed_entries(producer: AnalyticsService, kinesis: Any) -> None:
    hook = _partial_failure(failing_calls=1, failed_positions={1, 3})
    kinesis.meta.events.register_first("before-call.kinesis.PutRecords", hook)

    for number in range(5):
        producer.track_event("signup", f"user-{number}")
    failed = producer.flush()

    assert failed == 0
    assert len(hook.sent) == 2
    resent = [json.loads(data)["user_id"] for data in hook.sent[1]]
    assert resent == ["user-1", "user-3"]


def test_what_still_fails_after_the_bound_is_counted_not_dropped_silently(
    producer: AnalyticsService, kinesis: Any
) -> None:
    from nexus.observability import metrics

    hook = _partial_failure(failing_calls=99, failed_positions={0})
    kinesis.meta.events.register_first("before-call.kinesis.PutRecords", hook)

    producer.track_event("signup", "user-1")
    producer.track_event("signup", "user-2")
    failed = producer.flush()

    assert failed == 1
    assert len(hook.sent) == 3  # the bound: max_attempts
    assert producer.buffered == 0
    emitted = metrics.serialize_metric_set()
    metrics.clear_metrics()
    assert emitted["AnalyticsEventsFailed"] == [1.0]


# POST /events ----------------------------------------------------------------------------------


@pytest.fixture
def api(aws: LocalResources, template: Any) -> ApiClient:
    return ApiClient(template)


def test_post_one_event_and_a_batch(api: ApiClient, aws: LocalResources, kinesis: Any) -> None:
    one = api.post("/events", {"event_type": "page_view", "properties": {"page": "/"}})
    batch = api.post("/events", {"events": [{"event_type": "signup", "user_id": "u1"}] * 500})

    assert (one.status, one.json()) == (202, {"accepted": 1})
    assert (batch.status, batch.json()) == (202, {"accepted": 500})
    assert len(read_stream(kinesis, _stream(aws))) == 501


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": []}, "events"),
        ({"events": [{"event_type": "x"}] * 501}, "events"),
        ({"event_type": "Bad Type"}, "event_type"),
        ({"event_type": "x" * 65}, "event_type"),
        ({"event_type": "page_view", "properties": {}}, "body"),
        ({"event_type": "user_action", "properties": {"context": {}}}, "body"),
        ({"event_type": "ok", "surprise": 1}, "surprise"),
        ({"event_type": "ok", "properties": {"blob": "x" * 40_000}}, "body"),
        ({"event_type": "ok", "timestamp": "2001-01-01T00:00:00Z"}, "body"),
        ({"event_type": "ok", "timestamp": "not a time"}, "timestamp"),
        ({"events": [{"event_type": "ok"}, {"event_type": "BAD"}]}, "events.1.event_type"),
    ],
)
def test_invalid_events_are_422_and_nothing_is_sent(
    api: ApiClient, aws: LocalResources, kinesis: Any, body, field
) -> None:
    response = api.post("/events", body)

    assert response.status == 422, response.body
    assert field in [detail["field"] for detail in response.json()["error"]["details"]]
    assert read_stream(kinesis, _stream(aws)) == []


def test_events_body_limits_and_auth(api: ApiClient, aws: LocalResources, kinesis: Any) -> None:
    huge = {"events": [{"event_type": "ok", "properties": {"blob": "x" * 30_000}}] * 9}

    assert api.post("/events", huge).status == 413
    assert api.post("/events", body=b"nope").status == 400
    assert api.post("/events", {"event_type": "ok"}, scopes=None).status == 401
    assert api.post("/events", {"event_type": "ok"}, scopes="analytics:read").status == 403
    assert read_stream(kinesis, _stream(aws)) == []


# Consumer ----------------------------------------------------------------------------------------


def _event_data(event_type: str, day: datetime | None = None) -> bytes:
    moment = day or datetime.now(UTC)
    return json.dumps(
        {"event_type": event_type, "user_id": None, "properties": {}, "timestamp": moment.isoformat()}
    ).encode()


@pytest.fixture
def consumer(aws: LocalResources) -> EventCounting:
    dynamodb = boto3.client("dynamodb")
    store = EventCountStore(_count_settings(aws), client=dynamodb)
    consumer = EventCounting(_count_settings(aws), store, sqs_client=boto3.client("sqs"))
    consumer.initialize()
    consumer.dynamodb_calls = CallLog(dynamodb)  # type: ignore[attr-defined]
    return consumer


def _counts(aws: LocalResources, event_type: str | None = None, days: int = 7) -> dict[str, int]:
    store = EventCountStore(_count_settings(aws), client=boto3.client("dynamodb"))
    return store.counts_by_day(event_type, days, TODAY)


def _dead_letters(aws: LocalResources) -> list[dict[str, Any]]:
    messages = (
        boto3.client("sqs")
        .receive_message(QueueUrl=aws.physical["AnalyticsDeadLetterQueue"]["Ref"], MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    return [json.loads(message["Body"]) for message in messages]


def test_a_batch_is_counted_by_type_and_day_in_one_transaction(consumer: EventCounting, aws: LocalResources) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    records = [kinesis_record(_event_data("signup"), 10 + i) for i in range(3)]
    records.append(kinesis_record(_event_data("login", yesterday), 20))

    response = consumer.handle(kinesis_event(records), lambda_context())

    assert response == {"batchItemFailures": []}
    # One DynamoDB call for the whole batch: the transaction, no checkpoint read.
    assert [name for name, _ in consumer.dynamodb_calls.calls] == ["TransactWriteItems"]  # type: ignore[attr-defined]
    assert _counts(aws, "signup")[TODAY.isoformat()] == 3
    assert _counts(aws, "login")[(TODAY - timedelta(days=1)).isoformat()] == 1
    assert sum(_counts(aws).values()) == 4


def test_a_redelivered_record_is_not_counted_twice(consumer: EventCounting, aws: LocalResources) -> None:
    first = [kinesis_record(_event_data("signup"), n) for n in (100, 101, 102)]
    consumer.handle(kinesis_event(first), lambda_context())

    again = consumer.handle(kinesis_event([first[2], kinesis_record(_event_data("signup"), 103)]), lambda_context())

    assert again == {"batchItemFailures": []}
    assert _counts(aws, "signup")[TODAY.isoformat()] == 4


def test_a_batch_replayed_after_a_partial_failure_counts_exactly(consumer: EventCounting, aws: LocalResources) -> None:
    batch = [kinesis_record(_event_data("signup"), n) for n in range(200, 205)]
    batch[2] = kinesis_record(b"not json", 202)
    sqs = consumer._sqs  # the dead-letter send fails once for the poison record
    attempts = {"n": 0}

    def fail_first_send(**_: Any) -> None:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("SQS unavailable")

    sqs.meta.events.register("before-call.sqs.SendMessage", fail_first_send)

    first = consumer.handle(kinesis_event(batch), lambda_context())
    assert first == {"batchItemFailures": [{"itemIdentifier": str(n)} for n in (202, 203, 204)]}
    assert _counts(aws, "signup")[TODAY.isoformat()] == 2

    replay = consumer.handle(kinesis_event(batch), lambda_context())  # Lambda resends from the lowest failure

    assert replay == {"batchItemFailures": []}
    assert _counts(aws, "signup")[TODAY.isoformat()] == 4
    assert [letter["sequence_number"] for letter in _dead_letters(aws)] == ["202"]


@pytest.mark.parametrize(
    "poison", [b"not json", b'{"event_type": "x"}', b'{"event_type": 5, "timestamp": "2026-01-01T00:00:00Z"}']
)
def test_a_poison_record_is_dead_lettered_and_the_rest_counted(
    consumer: EventCounting, aws: LocalResources, poison
) -> None:
    batch = [
        kinesis_record(_event_data("signup"), 300),
        kinesis_record(poison, 301),
        kinesis_record(_event_data("signup"), 302),
    ]

    response = consumer.handle(kinesis_event(batch), lambda_context())

    assert response == {"batchItemFailures": []}
    assert _counts(aws, "signup")[TODAY.isoformat()] == 2
    letters = _dead_letters(aws)
    assert [(letter["shard_id"], letter["sequence_number"]) for letter in letters] == [("shardId-000000000000", "301")]


def test_a_failed_commit_reports_the_batch_and_the_retry_counts_once(
    consumer: EventCounting, aws: LocalResources
) -> None:
    batch = [kinesis_record(_event_data("signup"), n) for n in (400, 401)]
    dynamodb = consumer._store._client
    calls = {"n": 0}

    def fail_once(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("throttled")

    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", fail_once)

    assert consumer.handle(kinesis_event(batch), lambda_context()) == {
        "batchItemFailures": [{"itemIdentifier": "400"}, {"itemIdentifier": "401"}]
    }
    assert consumer.handle(kinesis_event(batch), lambda_context()) == {"batchItemFailures": []}
    assert _counts(aws, "signup")[TODAY.isoformat()] == 2


# Stats and the round trip ------------------------------------------------------------------------


def test_round_trip_api_stream_consumer_stats(
    api: ApiClient, aws: LocalResources, kinesis: Any, consumer: EventCounting
) -> None:
    api.post(
        "/events",
        {"events": [{"event_type": "page_view", "properties": {"page": "/"}}] * 3 + [{"event_type": "signup"}]},
    )
    created = api.post("/users", {"username": "roundtrip", "email": "rt@example.com"})
    assert created.status == 201

    records = read_stream(kinesis, _stream(aws))
    consumer.handle(kinesis_event(records), lambda_context())
    consumer.handle(kinesis_event(records[-2:]), lambda_context())  # the stream delivers some again

    stats = api.get("/stats/events", query={"event_type": "page_view", "days": 3}).json()
    assert stats["event_type"] == "page_view"
    assert stats["days"] == 3
    assert stats["total"] == 3
    assert list(stats["by_day"]) == [(TODAY - timedelta(days=d)).isoformat() for d in (2, 1, 0)]
    assert list(stats["by_day"].values()) == [0, 0, 3]
    everything = api.get("/stats/events").json()
    assert (everything["event_type"], everything["days"], everything["total"]) == (None, 7, 5)
    assert api.get("/stats/events", query={"event_type": "user_created"}).json()["total"] == 1


@pytest.mark.parametrize(
    ("query", "status"),
    [({"days": "0"}, 422), ({"days": "91"}, 422), ({"days": "week"}, 400), ({"event_type": "BAD"}, 422)],
)
def test_stats_query_validation(api: ApiClient, query, status) -> None:
    assert api.get("/stats/events", query=query).status == status


def test_user_stats_are_exact_after_every_write(api: ApiClient) -> None:
    assert api.get("/stats/users").json()["activity_rate"] == 0
    ids = [api.post("/users", {"username": f"stat{n}", "email": f"s{n}@example.com"}).json()["id"] for n in range(4)]
    api.patch(f"/users/{ids[0]}", {"is_active": False})
    api.delete(f"/users/{ids[1]}")

    stats = api.get("/stats/users").json()

    assert {k: stats[k] for k in ("total_users", "active_users", "inactive_users")} == {
        "total_users": 3,
        "active_users": 2,
        "inactive_users": 1,
    }
    assert stats["activity_rate"] == pytest.approx(2 / 3)
    assert stats["generated_at"].endswith("Z")
    assert api.get("/stats/users", scopes="users:read").status == 403
