"""WebhookPublisher: turn users-table stream records into signed POSTs to the subscribers.

Events and what they carry (no email, no full name: a receiver that needs more asks
the API with its own credentials):

- ``user.created``: ``id``, ``username``, ``is_active``, ``created_at``
- ``user.updated``: the same plus ``changed`` (the names of the fields that changed)
- ``user.deleted``: ``id``

Each delivery has an ``id`` derived from the stream record, the same on every retry,
so a receiver can drop duplicates: delivery is at least once. A record whose delivery
fails for any subscriber is reported as a batch item failure; Lambda retries it and,
after the event source mapping's retries, sends it to the dead-letter queue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.errors import NexusError
from nexus.http import HTTPService
from nexus.observability import logger, metrics
from nexus.services import Service
from nexus.webhooks.signing import SIGNATURE_HEADER, sign

_EVENT_TYPES = {"INSERT": "user.created", "MODIFY": "user.updated", "REMOVE": "user.deleted"}
_WATCHED_FIELDS = ("username", "email", "full_name", "is_active", "tags")


class WebhookDeliveryError(NexusError):
    code = "webhook_delivery_failed"


def webhook_event(record: DynamoDBRecord) -> dict[str, Any] | None:
    """The webhook body for a stream record of a user item, or None for other items."""
    stream = record.dynamodb
    if stream is None:
        return None
    new = stream.new_image or {}
    old = stream.old_image or {}
    image = new or old
    if image.get("kind") != "user":
        return None
    event_type = _EVENT_TYPES[str(record.event_name.name if record.event_name else "")]
    data: dict[str, Any] = {"id": image["user_id"]}
    if event_type != "user.deleted":
        data.update(username=new["username"], is_active=bool(new["is_active"]), created_at=new["created_at"])
    if event_type == "user.updated":
        data["changed"] = [field for field in _WATCHED_FIELDS if new.get(field) != old.get(field)]
    return {
        "id": f"evt_{record.event_id}",
        "type": event_type,
        "occurred_at": int(stream.approximate_creation_date_time or time.time()),
        "data": data,
    }


class WebhookPublisher(Service):
    def __init__(
        self,
        http: HTTPService,
        subscriber_urls: list[str],
        secret: Callable[[], bytes],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self._http = http
        self._urls = subscriber_urls
        self._secret = secret
        self._clock = clock

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """Process one stream batch; return the partial batch response."""
        self.validate_initialization()
        # An all-failed batch is reported like any other, not raised: the response says which.
        processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
        return dict(
            process_partial_response(event=event, record_handler=self._deliver, processor=processor, context=context)
        )

    def _deliver(self, record: DynamoDBRecord) -> None:
        payload = webhook_event(record)
        if payload is None or not self._urls:
            return
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret(), int(self._clock()), body),
            "Nexus-Event-Id": payload["id"],
            "Nexus-Event-Type": payload["type"],
        }
        failures = []
        for url in self._urls:
            try:
                result = self._http.post(url, data=body, headers=headers)
                if not result.ok:
                    failures.append(f"{url} answered {result.status_code}")
            except NexusError as exc:
                failures.append(f"{url}: {exc.code}")
        if failures:
            metrics.add_metric(name="WebhookDeliveryFailures", unit=MetricUnit.Count, value=len(failures))
            logger.warning("webhook delivery failed", event_id=payload["id"], failures=failures)
            raise WebhookDeliveryError("; ".join(failures))
        metrics.add_metric(name="WebhooksDelivered", unit=MetricUnit.Count, value=len(self._urls))
