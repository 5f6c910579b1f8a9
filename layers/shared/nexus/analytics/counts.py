"""Exact event counts per type per UTC day, written once per consumer batch.

Table layout (``AnalyticsTable``, keys ``pk``/``sk``):

- ``COUNTS`` / ``YYYY-MM-DD``: ``all`` and one ``t:<event_type>`` number per type.
  The stats are one Query of ``pk = COUNTS`` between two days.
- ``CHECKPOINT`` / ``<shard id>``: the last sequence number counted from that shard.

Exactly once: Kinesis delivers a shard's records in order (parallelization factor 1),
so a record at or below the shard's checkpoint was counted already. A batch is
counted by ONE transaction that moves the checkpoint (conditioned on where it was)
and adds the batch's counts, grouped by day and type. The common case is one call;
a replay fails the condition, reads the checkpoint and retries with only new records.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from botocore.exceptions import ClientError

from nexus.analytics.schemas import RecordedEvent
from nexus.conflicts import retry_conflicts

COUNTS_KEY = "COUNTS"
CHECKPOINT_KEY = "CHECKPOINT"
TYPE_PREFIX = "t:"
# Sequence numbers are up to 128-bit decimals; fixed width makes them compare as strings.
_SEQUENCE_WIDTH = 64
# Checkpoints of shards that closed after a reshard expire; open shards refresh theirs.
CHECKPOINT_TTL_SECONDS = 8 * 24 * 3600


def sequence_key(sequence_number: int) -> str:
    return str(sequence_number).zfill(_SEQUENCE_WIDTH)


@dataclass(frozen=True)
class CountableRecord:
    sequence_number: int
    event: RecordedEvent


class CheckpointMoved(Exception):
    """Another invocation moved the shard's checkpoint meanwhile."""


class EventCountStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    # Writing -----------------------------------------------------------------------------

    def count_batch(self, shard_id: str, records: Sequence[CountableRecord], now_epoch: int) -> int:
        """Count the records not counted before; return how many were new."""
        if not records:
            return 0
        first = min(r.sequence_number for r in records)
        try:
            self._commit(shard_id, records, now_epoch, expect_below=first)
            return len(records)
        except CheckpointMoved:
            pass
        checkpoint = self._checkpoint(shard_id)
        new = [r for r in records if checkpoint is None or r.sequence_number > checkpoint]
        if new:
            self._commit(shard_id, new, now_epoch, expect_exactly=checkpoint)
        return len(new)

    def _checkpoint(self, shard_id: str) -> int | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": CHECKPOINT_KEY}, "sk": {"S": shard_id}},
            ConsistentRead=True,
        ).get("Item")
        return int(item["last_sequence"]["S"]) if item else None

    def _commit(
        self,
        shard_id: str,
        records: Sequence[CountableRecord],
        now_epoch: int,
        *,
        expect_below: int | None = None,
        expect_exactly: int | None = None,
    ) -> None:
        last = max(r.sequence_number for r in records)
        values: dict[str, Any] = {
            ":last": {"S": sequence_key(last)},
            ":expires": {"N": str(now_epoch + CHECKPOINT_TTL_SECONDS)},
        }
        if expect_below is not None:
            condition = "attribute_not_exists(last_sequence) OR last_sequence < :first"
            values[":first"] = {"S": sequence_key(expect_below)}
        elif expect_exactly is not None:
            condition = "last_sequence = :seen"
            values[":seen"] = {"S": sequence_key(expect_exactly)}
        else:
            condition = "attribute_not_exists(last_sequence)"
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": CHECKPOINT_KEY}, "sk": {"S": shard_id}},
                    "UpdateExpression": "SET last_sequence = :last, expires_at = :expires",
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        items.extend(self._day_updates(records))
        try:
            retry_conflicts(lambda: self._client.transact_write_items(TransactItems=items), "count_events")
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                raise CheckpointMoved from exc
            raise

    def _day_updates(self, records: Sequence[CountableRecord]) -> list[dict[str, Any]]:
        by_day: dict[str, Counter[str]] = defaultdict(Counter)
        for record in records:
            by_day[record.event.day][record.event.event_type] += 1
        updates = []
        for day, counts in sorted(by_day.items()):
            names = {"#all": "all"}
            values = {":all": {"N": str(sum(counts.values()))}}
            additions = ["#all :all"]
            for index, (event_type, count) in enumerate(sorted(counts.items())):
                names[f"#t{index}"] = TYPE_PREFIX + event_type
                values[f":t{index}"] = {"N": str(count)}
                additions.append(f"#t{index} :t{index}")
            updates.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": COUNTS_KEY}, "sk": {"S": day}},
                        "UpdateExpression": "ADD " + ", ".join(additions),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        return updates

    # Reading -----------------------------------------------------------------------------

    def counts_by_day(self, event_type: str | None, days: int, today: date) -> dict[str, int]:
        """Counts for each of the ``days`` days ending ``today``, oldest first, zeros included."""
        first = today - timedelta(days=days - 1)
        window = [(first + timedelta(days=offset)).isoformat() for offset in range(days)]
        attribute = "all" if event_type is None else TYPE_PREFIX + event_type
        found: dict[str, int] = {}
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues={
                ":pk": {"S": COUNTS_KEY},
                ":first": {"S": window[0]},
                ":last": {"S": window[-1]},
            },
            ProjectionExpression="sk, #count",
            ExpressionAttributeNames={"#count": attribute},
        ):
            for item in page["Items"]:
                if attribute in item:
                    found[item["sk"]["S"]] = int(item[attribute]["N"])
        return {day: found.get(day, 0) for day in window}
