"""Analytics at scale (issue 24), on the strict emulated DynamoDB in this process.

The same 2,000 events (half with a client ``event_id``, a tenth of those resent) are counted by
the consumer as Lambda would hand them over, 100 records a batch: once from one stream shard,
once from four shards whose batches are interleaved. Each run reports the transactions, the
items and write units per event, the conflicts between shards (DynamoDB cancels overlapping
transactions on a common item: here every transaction holds its items 20 ms), and the events
counted, which must equal the distinct events. The one-shard run is the four-shard run's
baseline. The consumer's CPU per batch with AWS stubbed is part 3's ``consumer_batch_100``.
"""

from __future__ import annotations

import json
import time
import zlib
from datetime import UTC, datetime
from typing import Any

from local import strict_dynamodb
from local.template import Template

EVENTS = 2_000
BATCH = 100
OVERLAP_SECONDS = 0.02


def _records(shards: int) -> tuple[list[list[dict[str, Any]]], int]:
    """Per shard, its records in order; and how many distinct events they carry."""
    from devkit.kinesis import kinesis_record

    moment = datetime.now(UTC).isoformat()
    per_shard: list[list[dict[str, Any]]] = [[] for _ in range(shards)]
    distinct = 0
    for n in range(EVENTS):
        event: dict[str, Any] = {"event_type": f"type{n % 20}", "properties": {}, "timestamp": moment}
        resend = n % 2 == 1 and n % 20 == 19  # a tenth of the events with ids repeat an earlier id
        if n % 2 == 1:
            event |= {"event_id": f"id-{n - 2 if resend else n}", "caller": "client"}
        distinct += 0 if resend else 1
        # The producer keys an event with an id by it: its resends reach the same shard.
        key = event.get("event_id", str(n))
        shard = zlib.crc32(key.encode()) % shards
        per_shard[shard].append(kinesis_record(json.dumps(event).encode(), 10_000 + n, f"shardId-{shard:012d}"))
    return per_shard, distinct


def _run(consumer: Any, shards: int) -> dict[str, Any]:
    from devkit.handlers import lambda_context
    from devkit.kinesis import kinesis_event

    per_shard, distinct = _records(shards)
    strict_dynamodb.conflicts.reset()
    strict_dynamodb.conflicts.overlap_seconds = OVERLAP_SECONDS
    strict_dynamodb.meter.take()
    started = time.perf_counter()
    rounds = max(len(records) for records in per_shard)
    for start in range(0, rounds, BATCH):
        for records in per_shard:  # shard 0, 1, 2, 3, 0, ...: their transactions overlap
            if records[start : start + BATCH]:
                answer = consumer.handle(kinesis_event(records[start : start + BATCH]), lambda_context())
                assert answer == {"batchItemFailures": []}, answer
    seconds = time.perf_counter() - started
    writes = [u for u in strict_dynamodb.meter.take() if u.items_written]
    cancelled = strict_dynamodb.conflicts.cancelled
    strict_dynamodb.conflicts.reset()
    return {
        "shards": shards,
        "events": EVENTS,
        "distinct": distinct,
        "transactions": len(writes),
        "items_per_event": round(sum(u.items_written for u in writes) / EVENTS, 2),
        "write_units_per_event": round(sum(u.write_units for u in writes) / EVENTS, 2),
        "cancelled": cancelled,
        "emulated_seconds": round(seconds, 2),
    }


def measure(template: Template) -> dict[str, Any]:
    import boto3

    from devkit.in_process_stack import in_process_stack
    from nexus.analytics.counts import EventCountStore
    from nexus.operations.count_events import EventCounting
    from nexus.settings import EventCountSettings

    strict_dynamodb.install()
    result: dict[str, Any] = {}
    for shards in (1, 4):
        with in_process_stack(template) as resources:
            settings = EventCountSettings.model_construct(
                analytics_table_name=resources.physical["AnalyticsTable"]["Ref"],
                analytics_dead_letter_queue_url=resources.physical["AnalyticsDeadLetterQueue"]["Ref"],
            )
            store = EventCountStore(settings, client=boto3.client("dynamodb"))
            consumer = EventCounting(settings, store, sqs_client=boto3.client("sqs"))
            consumer.initialize()
            run = _run(consumer, shards)
            today = datetime.now(UTC).date()
            run["counted"] = sum(store.counts_by_day(None, 1, today).values())
            result[str(shards)] = run
    return result


def print_analytics_scale(result: dict[str, Any], consumer_batch_ms: float | None) -> None:
    one, four = result["1"], result["4"]
    print(f"\n7. Analytics counting (strict emulated DynamoDB; {EVENTS:,} events, half with ids, batches of {BATCH})")
    print(f"  {'shards':>6} {'transactions':>12} {'items/event':>11} {'WRU/event':>9} {'cancelled':>9} {'counted':>8}")
    for run in (one, four):
        exact = run["counted"] == run["distinct"]
        print(
            f"  {run['shards']:6} {run['transactions']:12} {run['items_per_event']:11} {run['write_units_per_event']:9}"
            f" {run['cancelled']:9} {run['counted']:8}  of {run['distinct']} distinct  {'ok ' if exact else 'MISS'}"
        )
    print(
        f"  4 shards beside 1 (baseline, same run): {four['cancelled']} conflicts between shards"
        f"  {'ok ' if four['cancelled'] == 0 else 'MISS'}; emulated time ratio"
        f" {four['emulated_seconds'] / one['emulated_seconds']:.2f}"
    )
    if consumer_batch_ms:
        per_shard = BATCH / (consumer_batch_ms / 1000)
        print(
            f"  one shard's consumer, AWS stubbed (part 3): {consumer_batch_ms:.2f} ms a batch of {BATCH}"
            f" = {per_shard:,.0f} events/s of CPU; 4 shards, 4 environments: {4 * per_shard:,.0f} events/s"
        )
