"""CountEventsFunction's composite: parse a Kinesis batch, dead-letter poison records, count the rest once.

- A poison record (not JSON, wrong schema) is sent to the dead-letter queue with its
  shard and sequence number and is NOT reported as failed, so it never blocks the shard.
- Any other failure of a record (e.g. the dead-letter send) is reported as a batch item
  failure: Lambda resumes from the lowest one, so only records before it are counted now.
- The countable records go to ``EventCountStore.count_batch``: one transaction.
  If it fails, every countable record is reported failed and the batch comes back.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import defaultdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError as PydanticValidationError

from nexus import aws
from nexus.analytics.counts import CountableRecord, EventCountStore
from nexus.analytics.schemas import RecordedEvent
from nexus.observability import logger, metrics
from nexus.operations.batch import EventType, failed_records, partial_response
from nexus.services import Service, inject
from nexus.settings import EventCountSettings


def shard_of(record: KinesisStreamRecord) -> str:
    # eventID is "<shard id>:<sequence number>"
    return str(record.event_id).split(":", 1)[0]


class EventCounting(Service):
    """Counts into ``store``; poison records go to ``settings``' dead-letter queue, through the
    environment's SQS client (or ``sqs_client``)."""

    def __init__(
        self,
        settings: EventCountSettings = inject(),
        store: EventCountStore = inject(),
        *,
        sqs_client: Any | None = None,
    ) -> None:
        super().__init__()
        self._store = store
        self._dead_letter_queue_url = settings.analytics_dead_letter_queue_url
        self._sqs = sqs_client if sqs_client is not None else aws.client("sqs")

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
        """Process one Kinesis batch; return the partial batch response."""
        # One batch comes from one shard; grouping keeps the checkpoint right regardless.
        countable: dict[str, list[CountableRecord]] = defaultdict(list)

        def parse(record: KinesisStreamRecord) -> None:
            sequence_number = int(record.kinesis.sequence_number)
            try:
                parsed = RecordedEvent.model_validate_json(base64.b64decode(record.kinesis.data, validate=True))
            except (PydanticValidationError, binascii.Error, ValueError) as exc:
                self._dead_letter(record, reason=str(exc).splitlines()[0])
                return
            countable[shard_of(record)].append(CountableRecord(sequence_number, parsed))

        records = event.get("Records", [])
        failed = [int(sequence) for sequence in failed_records(records, EventType.KinesisDataStreams, parse, context)]
        first_failed = min(failed) if failed else None
        counted = 0
        for shard, shard_records in sorted(countable.items()):
            ready = [r for r in shard_records if first_failed is None or r.sequence_number < first_failed]
            try:
                counted += self._store.count_batch(shard, ready, int(time.time()))
            except Exception:  # noqa: BLE001 - any failure means: report, and let Lambda retry
                logger.exception("counting the batch failed; it will be retried", shard=shard)
                first_failed = min((r.sequence_number for r in ready), default=first_failed)
        metrics.add_metric(name="EventsCounted", unit=MetricUnit.Count, value=counted)
        return partial_response(_failures_from(records, first_failed))

    def _dead_letter(self, record: KinesisStreamRecord, *, reason: str) -> None:
        shard, sequence_number = shard_of(record), int(record.kinesis.sequence_number)
        if self._store.poison_dead_lettered(shard, sequence_number):
            logger.info("poison record skipped: already in the dead-letter queue", event_id=record.event_id)
            return
        logger.warning("poison record sent to the dead-letter queue", event_id=record.event_id, reason=reason)
        metrics.add_metric(name="PoisonRecords", unit=MetricUnit.Count, value=1)
        self._sqs.send_message(
            QueueUrl=self._dead_letter_queue_url,
            MessageBody=json.dumps(
                {
                    "reason": reason,
                    "event_source_arn": record.event_source_arn,
                    "shard_id": shard,
                    "sequence_number": record.kinesis.sequence_number,
                    "data": record.kinesis.data,
                }
            ),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "poison_record"}},
        )
        self._store.mark_poison_dead_lettered(shard, sequence_number, int(time.time()))


def _failures_from(records: list[dict[str, Any]], first_failed: int | None) -> list[str]:
    """Every sequence number from the first failed one: Lambda resumes the shard there."""
    if first_failed is None:
        return []
    return [
        record["kinesis"]["sequenceNumber"]
        for record in records
        if int(record["kinesis"]["sequenceNumber"]) >= first_failed
    ]
