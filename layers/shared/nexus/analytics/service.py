"""AnalyticsService: events to Kinesis, sent at once (``put``: ``POST /events`` answers ``202`` only
once Kinesis took them) or buffered (the seed's ``track_event`` and friends) and flushed when full
and at the invocation's end, since a frozen environment runs no timer.

docs/decisions.md, "Analytics on Kinesis, buffered per invocation" and "Analytics exactly once
from the client: event ids, 202 after the stream, counts per (type, day, shard)".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from nexus import aws, deadline
from nexus.analytics.schemas import AnalyticsEvent
from nexus.observability import logger, metrics
from nexus.services import Service, inject
from nexus.settings import AnalyticsStreamSettings

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024
# What an invocation keeps for its answer once the events are sent.
RESERVE_SECONDS = 1.0


@dataclass(frozen=True)
class StreamRecord:
    data: bytes
    partition_key: str

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode())

    def entry(self) -> dict[str, Any]:
        return {"Data": self.data, "PartitionKey": self.partition_key}


def put_records_batches(records: list[StreamRecord]) -> Iterator[list[StreamRecord]]:
    """Split ``records`` into PutRecords calls of at most 500 records and 5 MiB."""
    batch: list[StreamRecord] = []
    size = 0
    for record in records:
        if batch and (len(batch) == MAX_RECORDS_PER_CALL or size + record.size > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record.size
    if batch:
        yield batch


def _stream_record(event: AnalyticsEvent, caller: str) -> StreamRecord:
    """An event with an id is keyed by it, so that a client's retries reach the same shard."""
    if event.event_id is not None:
        partition_key = f"{caller}:{event.event_id}"[:256]
    else:
        partition_key = event.user_id or uuid.uuid4().hex
    return StreamRecord(event.to_record(caller), partition_key)


class AnalyticsService(Service):
    def __init__(
        self,
        settings: AnalyticsStreamSettings = inject(),
        *,
        client: Any | None = None,
        buffer_size: int = MAX_RECORDS_PER_CALL,
        max_attempts: int = 3,
        base_delay_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self._stream_name = settings.analytics_stream_name
        self._client = client
        self._buffer: list[StreamRecord] = []
        self.buffer_size = buffer_size
        self._max_attempts = max_attempts
        self._base_delay = base_delay_seconds
        self._sleep = sleep

    def _setup(self) -> None:
        if self._client is None:
            # botocore retries whole-call failures; partial failures are ours to resend.
            self._client = aws.client("kinesis")

    def _teardown(self) -> None:
        self.flush()

    def end_invocation(self) -> None:
        self.flush()

    # The seed's tracking API ------------------------------------------------------------

    def track_event(
        self,
        event_type: str,
        user_id: str | None = None,
        properties: dict[str, Any] | None = None,
        event_id: str | None = None,
    ) -> None:
        """Buffer one event; an ``event_id`` makes a second recording of it count once."""
        self.record(
            AnalyticsEvent(event_type=event_type, event_id=event_id, user_id=user_id, properties=properties or {})
        )

    def track_user_action(self, user_id: str, action: str, context: dict[str, Any] | None = None) -> None:
        self.track_event("user_action", user_id, {"action": action, "context": context or {}})

    def track_page_view(self, user_id: str | None, page: str, referrer: str | None = None) -> None:
        self.track_event("page_view", user_id, {"page": page, "referrer": referrer})

    def record(self, event: AnalyticsEvent) -> None:
        """Buffer a validated event; flush when the buffer is full."""
        self._buffer.append(_stream_record(event, ""))
        if len(self._buffer) >= self.buffer_size:
            self.flush()

    def put(self, events: list[AnalyticsEvent], caller: str) -> int:
        """Send ``events`` now; return how many Kinesis did not take (0: all are in the stream)."""
        failed = sum(
            self._put_with_retries(batch) for batch in put_records_batches([_stream_record(e, caller) for e in events])
        )
        if failed:
            metrics.add_metric(name="AnalyticsEventsFailed", unit=MetricUnit.Count, value=failed)
        return failed

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # Flushing --------------------------------------------------------------------------

    def flush(self) -> int:
        """Send the buffer; return how many events could not be delivered (logged and counted)."""
        records, self._buffer = self._buffer, []
        failed = 0
        for batch in put_records_batches(records):
            failed += self._put_with_retries(batch)
        if failed:
            metrics.add_metric(name="AnalyticsEventsFailed", unit=MetricUnit.Count, value=failed)
        return failed

    def _put_with_retries(self, batch: list[StreamRecord]) -> int:
        pending = batch
        errors: set[str] = set()
        for attempt in range(self._max_attempts):
            if attempt:
                delay = self._base_delay * 2 ** (attempt - 1)
                left = deadline.seconds_left()
                if left is not None and left - delay < RESERVE_SECONDS:
                    break  # no time for another attempt and the answer
                self._sleep(delay)
            try:
                response = self._client.put_records(  # type: ignore[union-attr]
                    StreamName=self._stream_name, Records=[record.entry() for record in pending]
                )
            except (BotoCoreError, ClientError) as exc:
                logger.warning("PutRecords failed", attempt=attempt + 1, records=len(pending), error=str(exc))
                errors.add(type(exc).__name__)
                continue
            results = response["Records"]
            errors.update(result["ErrorCode"] for result in results if result.get("ErrorCode"))
            pending = [record for record, result in zip(pending, results, strict=True) if result.get("ErrorCode")]
            if not pending:
                return 0
        # By count and error code, never the events: a log line has a size limit, and events carry data.
        logger.error("analytics events not delivered", count=len(pending), errors=sorted(errors))
        return len(pending)
