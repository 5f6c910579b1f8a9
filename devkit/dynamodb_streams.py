"""Read a table's DynamoDB stream from moto and shape it as Lambda's DynamoDB stream event."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def read_table_stream(client: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Every record of the stream, as Lambda delivers them."""
    records: list[dict[str, Any]] = []
    for shard in client.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = client.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator)
            for record in page["Records"]:
                dynamodb = dict(record["dynamodb"])
                created = dynamodb.get("ApproximateCreationDateTime")
                if isinstance(created, datetime):
                    dynamodb["ApproximateCreationDateTime"] = created.timestamp()
                records.append({**record, "dynamodb": dynamodb, "eventSourceARN": stream_arn})
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return records
