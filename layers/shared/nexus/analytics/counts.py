"""Exact event counts per type per UTC day in ``AnalyticsTable``: each chunk of a shard's batch is
one transaction that moves the shard's checkpoint, puts the markers of its events' ids and adds
its counts, so a replayed record or a client's resent event is counted once.

docs/decisions.md, "Exactly-once counting with a per-shard checkpoint transaction" and
"Analytics exactly once from the client: event ids, 202 after the stream, counts per (type, day, shard)".
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from botocore.exceptions import ClientError

from nexus import aws
from nexus.analytics.schemas import RecordedEvent
from nexus.conflicts import retry_conflicts
from nexus.services import inject
from nexus.settings import EventCountSettings

# The items (pk / sk):
# COUNT#<type>#<bucket> / <day>#<shard id>: n, that shard's events of that type (``*``: all) that
#   day; the bucket (0-3, of the shard id) spreads a busy stream over four partition keys.
# EVENT#<caller>\x1f<event id> / ID: an event with that id was counted (expires after 24 h).
# CHECKPOINT / <shard id>: the last sequence number counted from that shard.
# POISON / <shard id>#<sequence number>: that poison record went to the dead-letter queue
#   (written after the send: a crash between the two sends it twice, never loses it).
# COUNTS / <day>: the day items of the layout before; read, never written again.
LEGACY_COUNTS_KEY = "COUNTS"
CHECKPOINT_KEY = "CHECKPOINT"
TYPE_PREFIX = "t:"
ALL_TYPES = "*"
COUNT_BUCKETS = 4
MAX_TRANSACTION_ITEMS = 100
# Sequence numbers are up to 128-bit decimals; fixed width makes them compare as strings.
_SEQUENCE_WIDTH = 64
# Checkpoints of shards that closed after a reshard expire; open shards refresh theirs.
CHECKPOINT_TTL_SECONDS = 8 * 24 * 3600
EVENT_ID_WINDOW_SECONDS = 24 * 3600
POISON_KEY = "POISON"
# A poison record is delivered again only while the stream keeps it (24 h).
POISON_TTL_SECONDS = 2 * 24 * 3600
_CONDITION_FAILED = "ConditionalCheckFailed"


def sequence_key(sequence_number: int) -> str:
    return str(sequence_number).zfill(_SEQUENCE_WIDTH)


def count_key(event_type: str, day: str, shard_id: str) -> dict[str, dict[str, str]]:
    bucket = zlib.crc32(shard_id.encode()) % COUNT_BUCKETS
    return {"pk": {"S": f"COUNT#{event_type}#{bucket}"}, "sk": {"S": f"{day}#{shard_id}"}}


def _poison_key(shard_id: str, sequence_number: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": POISON_KEY}, "sk": {"S": f"{shard_id}#{sequence_key(sequence_number)}"}}


def marker_key(dedupe_key: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"EVENT#{dedupe_key}"}, "sk": {"S": "ID"}}


@dataclass(frozen=True)
class CountableRecord:
    sequence_number: int
    event: RecordedEvent


class CheckpointMoved(Exception):
    """Another invocation moved the shard's checkpoint meanwhile."""


class ResentEvents(Exception):
    """Markers of these ids are live: the events were counted before."""

    def __init__(self, keys: set[str]) -> None:
        super().__init__(f"{len(keys)} events counted before")
        self.keys = keys


@dataclass
class _Chunk:
    """Consecutive records whose transaction stays within DynamoDB's 100 items."""

    records: list[CountableRecord] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, day) -> events

    @property
    def items(self) -> int:
        return 1 + len(self.markers) + len(self.counts)  # the checkpoint, markers, count items

    @property
    def counted(self) -> int:
        return sum(n for (event_type, _), n in self.counts.items() if event_type == ALL_TYPES)


def _chunks(records: Sequence[CountableRecord], live: set[str]) -> list[_Chunk]:
    """``records`` cut into chunks; an event whose id is ``live`` or came earlier is not counted."""
    chunks = [_Chunk()]
    seen: set[str] = set()
    for record in records:
        event, key = record.event, record.event.dedupe_key
        fresh = key is None or (key not in live and key not in seen)
        new_items = [(event.event_type, event.day), (ALL_TYPES, event.day)] if fresh else []
        grows = sum(1 for item in new_items if item not in chunks[-1].counts) + (1 if fresh and key else 0)
        if chunks[-1].records and chunks[-1].items + grows > MAX_TRANSACTION_ITEMS:
            chunks.append(_Chunk())
        chunk = chunks[-1]
        chunk.records.append(record)
        if fresh:
            if key is not None:
                seen.add(key)
                chunk.markers.append(key)
            for item in new_items:
                chunk.counts[item] += 1
    return chunks


class EventCountStore:
    """The counts in ``settings``' table, through the environment's DynamoDB client (or ``client``)."""

    def __init__(self, settings: EventCountSettings = inject(), *, client: Any | None = None) -> None:
        self._table = settings.analytics_table_name
        self._client = client if client is not None else aws.client("dynamodb")

    # Writing -----------------------------------------------------------------------------

    def count_batch(self, shard_id: str, records: Sequence[CountableRecord], now_epoch: int) -> int:
        """Count the records not counted before, each event once; return how many events were new."""
        pending = sorted(records, key=lambda r: r.sequence_number)
        live: set[str] = set()
        expect: tuple[str, int | None] = ("below", pending[0].sequence_number) if pending else ("none", None)
        counted = 0
        while pending:
            chunk = _chunks(pending, live)[0]
            try:
                self._commit(shard_id, chunk, now_epoch, expect)
            except CheckpointMoved:
                checkpoint = self._checkpoint(shard_id)
                pending = [r for r in pending if checkpoint is None or r.sequence_number > checkpoint]
                expect = ("exactly", checkpoint) if checkpoint is not None else ("none", None)
                continue
            except ResentEvents as resent:
                live |= resent.keys
                continue
            counted += chunk.counted
            live |= set(chunk.markers)
            pending = pending[len(chunk.records) :]
            expect = ("exactly", chunk.records[-1].sequence_number)
        return counted

    def _checkpoint(self, shard_id: str) -> int | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": CHECKPOINT_KEY}, "sk": {"S": shard_id}},
            ConsistentRead=True,
        ).get("Item")
        return int(item["last_sequence"]["S"]) if item else None

    def _commit(self, shard_id: str, chunk: _Chunk, now_epoch: int, expect: tuple[str, int | None]) -> None:
        last = chunk.records[-1].sequence_number
        values: dict[str, Any] = {
            ":last": {"S": sequence_key(last)},
            ":expires": {"N": str(now_epoch + CHECKPOINT_TTL_SECONDS)},
        }
        how, where = expect
        if how == "below" and where is not None:
            condition = "attribute_not_exists(last_sequence) OR last_sequence < :first"
            values[":first"] = {"S": sequence_key(where)}
        elif how == "exactly" and where is not None:
            condition = "last_sequence = :seen"
            values[":seen"] = {"S": sequence_key(where)}
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
        items += [self._marker(key, shard_id, now_epoch) for key in chunk.markers]
        items += [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": count_key(event_type, day, shard_id),
                    "UpdateExpression": "ADD n :n",
                    "ExpressionAttributeValues": {":n": {"N": str(n)}},
                }
            }
            for (event_type, day), n in sorted(chunk.counts.items())
        ]
        try:
            retry_conflicts(lambda: self._client.transact_write_items(TransactItems=items), "count_events")
        except ClientError as exc:
            reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]
            if reasons and reasons[0] == _CONDITION_FAILED:
                raise CheckpointMoved from exc
            resent = {key for key, code in zip(chunk.markers, reasons[1:], strict=False) if code == _CONDITION_FAILED}
            if resent:
                raise ResentEvents(resent) from exc
            raise

    def _marker(self, key: str, shard_id: str, now_epoch: int) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **marker_key(key),
                    "expires_at": {"N": str(now_epoch + EVENT_ID_WINDOW_SECONDS)},
                    "shard": {"S": shard_id},
                },
                "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                "ExpressionAttributeValues": {":now": {"N": str(now_epoch)}},
            }
        }

    # Poison records ----------------------------------------------------------------------

    def poison_dead_lettered(self, shard_id: str, sequence_number: int) -> bool:
        """Whether this poison record was sent to the dead-letter queue already."""
        found = self._client.get_item(
            TableName=self._table, Key=_poison_key(shard_id, sequence_number), ConsistentRead=True
        )
        return "Item" in found

    def mark_poison_dead_lettered(self, shard_id: str, sequence_number: int, now_epoch: int) -> None:
        """Remember the send, so that a batch delivered again does not send the record twice."""
        self._client.put_item(
            TableName=self._table,
            Item={**_poison_key(shard_id, sequence_number), "expires_at": {"N": str(now_epoch + POISON_TTL_SECONDS)}},
        )

    # Reading -----------------------------------------------------------------------------

    def counts_by_day(self, event_type: str | None, days: int, today: date) -> dict[str, int]:
        """Counts for each of the ``days`` days ending ``today``, oldest first, zeros included.

        One Query per bucket (four) and one of the legacy day items: a number of reads that
        grows with neither the events nor the types, only with days x shards (one item each).
        """
        first = today - timedelta(days=days - 1)
        window = [(first + timedelta(days=offset)).isoformat() for offset in range(days)]
        found: dict[str, int] = defaultdict(int)
        for bucket in range(COUNT_BUCKETS):
            for item in self._query(
                f"COUNT#{event_type or ALL_TYPES}#{bucket}", window[0], f"{window[-1]}#\uffff", "n"
            ):
                found[item["sk"]["S"].split("#", 1)[0]] += int(item["n"]["N"])
        legacy = "all" if event_type is None else TYPE_PREFIX + event_type
        for item in self._query(LEGACY_COUNTS_KEY, window[0], window[-1], legacy):
            if legacy in item:
                found[item["sk"]["S"]] += int(item[legacy]["N"])
        return {day: found.get(day, 0) for day in window}

    def _query(self, pk: str, first: str, last: str, attribute: str) -> list[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues={":pk": {"S": pk}, ":first": {"S": first}, ":last": {"S": last}},
            ProjectionExpression="sk, #count",
            ExpressionAttributeNames={"#count": attribute},
        )
        return [item for page in pages for item in page["Items"]]
