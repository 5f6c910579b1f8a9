"""AnalyticsService: the seed's tracking API, buffered per invocation and flushed to Kinesis.

A Lambda environment freezes between invocations, so there is no timer: the buffer is
flushed when it reaches ``buffer_size`` and by ``end_invocation`` (the per-invocation
scope). ``PutRecords`` batches stay within Kinesis' limits; a partial failure resends
only the failed entries, with backoff and a bound; what still fails is logged with the
events and counted (``AnalyticsEventsFailed``), never silently dropped, and never
holds the request longer than the bound.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from nexus import aws
from nexus.analytics.schemas import AnalyticsEvent
from nexus.observability import logger, metrics
from nexus.services import Service

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024


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


class AnalyticsService(Service):
    def __init__(
        self,
        stream_name: str,
        *,
        client: Any | None = None,
        buffer_size: int = MAX_RECORDS_PER_CALL,
        max_attempts: int = 3,
        base_delay_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self._stream_name = stream_name
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
        self, event_type: str, user_id: str | None = None, properties: dict[str, Any] | None = None
    ) -> None:
        self.record(AnalyticsEvent(event_type=event_type, user_id=user_id, properties=properties or {}))

    def track_user_action(self, user_id: str, action: str, context: dict[str, Any] | None = None) -> None:
        self.track_event("user_action", user_id, {"action": action, "context": context or {}})

    def track_page_view(self, user_id: str | None, page: str, referrer: str | None = None) -> None:
        self.track_event("page_view", user_id, {"page": page, "referrer": referrer})

    def record(self, event: AnalyticsEvent) -> None:
        """Buffer a validated event; flush when the buffer is full."""
        partition_key = event.user_id or uuid.uuid4().hex
        self._buffer.append(StreamRecord(event.to_record(), partition_key))
        if len(self._buffer) >= self.buffer_size:
            self.flush()

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
        for attempt in range(self._max_attempts):
            if attempt:
                self._sleep(self._base_delay * 2 ** (attempt - 1))
            try:
                response = self._client.put_records(  # type: ignore[union-attr]
                    StreamName=self._stream_name, Records=[record.entry() for record in pending]
                )
            except (BotoCoreError, ClientError) as exc:
                logger.warning("PutRecords failed", attempt=attempt + 1, records=len(pending), error=str(exc))
                continue
            pending = [
                record for record, result in zip(pending, response["Records"], strict=True) if result.get("ErrorCode")
            ]
            if not pending:
                return 0
        logger.error(
            "analytics events not delivered",
            count=len(pending),
            events=[record.data.decode(errors="replace") for record in pending],
        )
        return len(pending)
