"""Analytics exactly once from the client to the count (issue 24).

A client's ``event_id`` makes a resend count nothing again (across requests and inside one);
``202`` means Kinesis took every event, ``503`` says how many it did not; the counts live in
one item per (type, day, shard), so any number of types fits and shards never conflict.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from devkit.api_client import ApiClient, assert_error
from devkit.handlers import lambda_context
from devkit.kinesis import kinesis_event, kinesis_record, read_stream
from local import strict_dynamodb
from local.provisioning import LocalResources
from local.template import Template
from nexus import aws as aws_clients
from nexus.analytics.counts import EventCountStore
from nexus.operations.count_events import EventCounting
from nexus.settings import EventCountSettings

TODAY = datetime.now(UTC).date()
MAX_ITEM_BYTES = 400 * 1024


@pytest.fixture
def api(aws: LocalResources, template: Template) -> ApiClient:
    return ApiClient(template)


def count_settings(aws: LocalResources) -> EventCountSettings:
    return EventCountSettings.model_construct(
        analytics_table_name=aws.physical["AnalyticsTable"]["Ref"],
        analytics_dead_letter_queue_url=aws.physical["AnalyticsDeadLetterQueue"]["Ref"],
    )


@pytest.fixture
def consumer(aws: LocalResources) -> EventCounting:
    store = EventCountStore(count_settings(aws), client=boto3.client("dynamodb"))
    consumer = EventCounting(count_settings(aws), store, sqs_client=boto3.client("sqs"))
    consumer.initialize()
    return consumer


def stream_records(aws: LocalResources) -> list[dict[str, Any]]:
    return read_stream(boto3.client("kinesis"), aws.physical["AnalyticsStream"]["Ref"])


def count_everything(consumer: EventCounting, records: list[dict[str, Any]], batch: int = 100) -> None:
    """As Lambda delivers a shard: in order, ``batch`` records at a time."""
    by_shard: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_shard.setdefault(record["eventID"].split(":")[0], []).append(record)
    for shard_records in by_shard.values():
        for start in range(0, len(shard_records), batch):
            answer = consumer.handle(kinesis_event(shard_records[start : start + batch]), lambda_context())
            assert answer == {"batchItemFailures": []}


def totals(aws: LocalResources, event_type: str | None = None) -> int:
    store = EventCountStore(count_settings(aws), client=boto3.client("dynamodb"))
    return sum(store.counts_by_day(event_type, 1, TODAY).values())


def page_views(*ids: str) -> dict[str, Any]:
    return {"events": [{"event_type": "page_view", "event_id": i, "properties": {"page": "/"}} for i in ids]}


def test_a_batch_sent_three_times_with_the_same_ids_counts_once(
    api: ApiClient, aws: LocalResources, consumer: EventCounting
) -> None:
    for _ in range(3):
        response = api.post("/events", page_views("a-1", "a-2", "a-3"))
        assert (response.status, response.json()) == (202, {"accepted": 3})
    api.post("/events", page_views("a-1"), subject="someone-else")  # ids are each caller's own

    records = stream_records(aws)
    assert len(records) == 10
    count_everything(consumer, records)
    count_everything(consumer, records[:4])  # the stream delivers some again, too

    assert (totals(aws, "page_view"), totals(aws)) == (4, 4)


def test_an_id_twice_in_one_request_is_accepted_twice_and_sent_and_counted_once(
    api: ApiClient, aws: LocalResources, consumer: EventCounting
) -> None:
    body = page_views("b-1", "b-2", "b-1")
    body["events"].append({"event_type": "signup"})  # no id: today's semantics

    response = api.post("/events", body)

    assert (response.status, response.json()) == (202, {"accepted": 4})
    records = stream_records(aws)
    assert len(records) == 3
    count_everything(consumer, records)
    assert (totals(aws, "page_view"), totals(aws, "signup")) == (2, 1)


def _refuse_first_entries(count: int) -> Any:
    """A hook answering PutRecords itself: the first ``count`` entries of every call fail; the
    others are kept in ``answer.taken`` for the test to put on the stream, as Kinesis would have."""
    taken: list[dict[str, Any]] = []

    def answer(model: Any, params: dict[str, Any], **_: Any) -> Any:
        entries = json.loads(params["body"])["Records"]
        taken.extend(entries[count:])
        results = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"}
            if index < count
            else {"SequenceNumber": str(index), "ShardId": "shardId-000000000000"}
            for index in range(len(entries))
        ]
        return AWSResponse("", 200, {}, None), {"FailedRecordCount": min(count, len(entries)), "Records": results}

    answer.taken = taken  # type: ignore[attr-defined]
    return answer


def test_a_partial_kinesis_failure_is_a_503_with_the_number_and_a_resend_counts_nothing_twice(
    api: ApiClient, aws: LocalResources, consumer: EventCounting, caplog: pytest.LogCaptureFixture
) -> None:
    api.module("TrackEventsFunction")  # its cold start builds the Kinesis client the hook goes on
    kinesis = aws_clients.client("kinesis")
    hook = _refuse_first_entries(2)
    kinesis.meta.events.register_first("before-call.kinesis.PutRecords", hook)
    body = page_views("c-1", "c-2", "c-3", "c-4")

    refused = api.post("/events", body)

    error = assert_error(refused, 503, "events_not_accepted")
    assert error["not_accepted"] == 2
    [line] = [r for r in caplog.records if r.getMessage() == "analytics events not delivered"]
    assert (line.count, line.errors) == (2, ["ProvisionedThroughputExceededException"])  # type: ignore[attr-defined]
    assert "c-1" not in caplog.text, "the events themselves are never logged"
    kinesis.meta.events.unregister("before-call.kinesis.PutRecords", hook)
    boto3.client("kinesis").put_records(
        StreamName=aws.physical["AnalyticsStream"]["Ref"],
        Records=[{"Data": base64.b64decode(e["Data"]), "PartitionKey": e["PartitionKey"]} for e in hook.taken],
    )

    retried = api.post("/events", body)

    assert (retried.status, retried.json()) == (202, {"accepted": 4})
    records = stream_records(aws)
    assert len(records) == 2 + 4  # what the first attempt got in, and the whole resend
    count_everything(consumer, records)
    assert totals(aws, "page_view") == 4


def test_ten_thousand_types_in_a_day_then_an_ordinary_event_are_all_counted_and_no_item_grows(
    aws: LocalResources, consumer: EventCounting, table_items: Any
) -> None:
    moment = datetime.now(UTC).isoformat()
    records = [
        kinesis_record(
            json.dumps({"event_type": f"type.{n:05d}.{'x' * 50}", "properties": {}, "timestamp": moment}).encode(),
            1000 + n,
        )
        for n in range(10_000)
    ]
    records.append(
        kinesis_record(
            json.dumps({"event_type": "page_view", "properties": {"page": "/"}, "timestamp": moment}).encode(), 20_000
        )
    )

    count_everything(consumer, records)

    assert totals(aws) == 10_001
    assert totals(aws, "page_view") == 1
    assert totals(aws, f"type.04242.{'x' * 50}") == 1
    sizes = [len(json.dumps(item)) for item in table_items("AnalyticsTable")]
    assert max(sizes) < 1024 < MAX_ITEM_BYTES, "one item per (type, day, shard): none grows with the types"


def test_two_shards_consumers_interleaved_write_no_common_item_and_count_exactly(
    aws: LocalResources, consumer: EventCounting
) -> None:
    """DynamoDB cancels a transaction that overlaps another on any item: two shards' consumers
    run at the same time, so they must share none (each writes its own checkpoint and count
    items; ids are keyed to one shard by the producer's partition key)."""
    moment = datetime.now(UTC).isoformat()

    def record(shard: str, n: int, event_id: str | None = None) -> dict[str, Any]:
        event = {"event_type": "page_view", "properties": {"page": "/"}, "timestamp": moment}
        if event_id is not None:
            event |= {"event_id": event_id, "caller": "client-1"}
        return kinesis_record(json.dumps(event).encode(), 5000 + n, shard)

    shards = ["shardId-000000000000", "shardId-000000000001"]
    batches = {
        s: [[record(s, 10 * b + i, f"{s}-{b}-{i}" if i % 2 else None) for i in range(10)] for b in range(5)]
        for s in shards
    }
    written: dict[str, set[str]] = {shard: set() for shard in shards}
    strict_dynamodb.meter.take()
    for b in range(5):
        for shard in shards:  # A, B, A, B, ...
            assert consumer.handle(kinesis_event(batches[shard][b]), lambda_context()) == {"batchItemFailures": []}
            written[shard] |= set(strict_dynamodb.meter.writes_per_key(strict_dynamodb.meter.take()))

    assert written[shards[0]]
    assert written[shards[1]]
    assert written[shards[0]].isdisjoint(written[shards[1]])
    assert totals(aws, "page_view") == 100
