"""Kinesis test helpers: read a stream back and shape records as Lambda's Kinesis event."""

from __future__ import annotations

import base64
from typing import Any

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/events"


def kinesis_record(data: bytes, sequence_number: int, shard_id: str = "shardId-000000000000") -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "key",
            "sequenceNumber": str(sequence_number),
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1764151200.0,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/consumer",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def kinesis_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


def read_stream(client: Any, stream_name: str) -> list[dict[str, Any]]:
    """Every record of every shard, as Lambda's Kinesis event records."""
    records: list[dict[str, Any]] = []
    for shard in client.list_shards(StreamName=stream_name)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                records.append(kinesis_record(record["Data"], int(record["SequenceNumber"]), shard["ShardId"]))
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return records
