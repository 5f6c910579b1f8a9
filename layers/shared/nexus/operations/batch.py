"""The one way a trigger reads a batch and answers it: Powertools' ``BatchProcessor``.

Every trigger composite (``count_events``, ``publish_webhooks``, ``welcome_retries``) has the
entry ``handle(event, context) -> dict`` and answers Lambda with ``partial_response``: the
records to deliver again (``ReportBatchItemFailures``). Those that handle records one by one
run them through ``failed_records``; the webhook publisher delivers the batch to each
subscriber in order, so it decides the failures itself and answers the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from nexus.observability import logger

__all__ = ["EventType", "failed_records", "partial_response"]


def failed_records(
    records: Sequence[dict[str, Any]],
    event_type: EventType,
    handler: Callable[[Any], object],
    context: Any = None,
) -> list[str]:
    """Run ``handler`` on each record (as Powertools' record class); the ids of those that raised.

    The id is what Lambda wants back: the message id (SQS) or the sequence number (streams).
    """

    def logged(record: Any) -> object:
        try:
            return handler(record)
        except Exception as exc:
            # One line per record that comes back: which, and why (the reason's start, no data).
            logger.warning(
                "record failed; it will be delivered again",
                record_id=_record_id(record),
                error=type(exc).__name__,
                reason=str(exc)[:200],
            )
            raise

    processor = BatchProcessor(event_type=event_type, raise_on_entire_batch_failure=False)
    with processor(records=list(records), handler=logged, lambda_context=context):
        processor.process()
    return [str(item["itemIdentifier"]) for item in processor.response()["batchItemFailures"]]


def _record_id(record: Any) -> str:
    """The message id (SQS) or the sequence number (streams) of a Powertools record."""
    if message_id := getattr(record, "message_id", None):
        return str(message_id)
    stream = getattr(record, "kinesis", None) or getattr(record, "dynamodb", None)
    return str(getattr(stream, "sequence_number", "")) if stream is not None else ""


def partial_response(item_identifiers: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """The batch response Lambda reads: these records come back, the others are done."""
    return {"batchItemFailures": [{"itemIdentifier": identifier} for identifier in item_identifiers]}
