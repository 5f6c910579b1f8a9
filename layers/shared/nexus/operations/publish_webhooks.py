"""PublishWebhooksFunction's composite, WebhookPublishing: users-table stream records become
signed POSTs (payloads: docs/API.md, "Appendix: webhooks"), each subscriber served in stream
order, all by the invocation's deadline; the answer is a checkpoint from which Lambda retries
the batch.

docs/decisions.md, "Webhook delivery within a time budget".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.errors import NexusError
from nexus.http import DeadlineExceededError, HTTPService
from nexus.http.service import MIN_ATTEMPT_SECONDS
from nexus.observability import logger, metrics
from nexus.operations.batch import partial_response
from nexus.services import Service, inject
from nexus.settings import WebhookSettings
from nexus.webhooks.secrets import Secrets, parameter_secrets, secrets_of
from nexus.webhooks.signing import SIGNATURE_HEADER, sign

_EVENT_TYPES = {"INSERT": "user.created", "MODIFY": "user.updated", "REMOVE": "user.deleted"}
_WATCHED_FIELDS = ("username", "email", "full_name", "is_active", "tags")


# Left of the invocation's remaining time for returning the response and flushing metrics.
SAFETY_MARGIN_SECONDS = 2.0
# How long past the deadline to wait for a request that did not end by it (a server that
# trickles its answer); after that its subscriber counts as not delivered.
STRAGGLER_GRACE_SECONDS = 0.5
MAX_CONCURRENT_SUBSCRIBERS = 10


@dataclass(frozen=True)
class _Message:
    event_id: str
    event_type: str
    body: bytes


@dataclass
class _Progress:
    """One subscriber's way through the batch; written by its worker thread only."""

    url: str
    accepted: int = 0
    """Records (from the batch's start) this subscriber has accepted or did not need."""
    failure: str | None = None
    """Why it stopped early: a status, an error code, or "deadline"."""
    sent: int = 0
    finished: bool = False

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "?"


@dataclass
class _Outcome:
    progress: list[_Progress] = field(default_factory=list)
    poisoned_at: int | None = None


def webhook_event(record: DynamoDBRecord) -> dict[str, Any] | None:
    """The webhook body for a stream record of a user item, or None for other items and for
    writes that change no user (every user write bumps ``version``)."""
    stream = record.dynamodb
    if stream is None:
        return None
    new = stream.new_image or {}
    old = stream.old_image or {}
    image = new or old
    if image.get("kind") != "user":
        return None
    event_type = _EVENT_TYPES[str(record.event_name.name if record.event_name else "")]
    if event_type == "user.updated" and new.get("version") == old.get("version"):
        return None  # not a change of the user: the welcome email's retry marker (UserService)
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


class WebhookPublishing(Service):
    """Posts to ``settings``' subscribers, signed with the secrets in its parameter
    (``parameter_secrets``), or those ``secrets`` returns."""

    def __init__(
        self,
        settings: WebhookSettings = inject(),
        http: HTTPService = inject(),
        *,
        secrets: Callable[[], Mapping[str, Secrets]] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        safety_margin_seconds: float = SAFETY_MARGIN_SECONDS,
        max_workers: int = MAX_CONCURRENT_SUBSCRIBERS,
    ) -> None:
        super().__init__()
        self._http = http
        self._urls = list(settings.webhook_urls)
        self._secrets = secrets if secrets is not None else parameter_secrets(settings.webhook_secret_parameter)
        self._clock = clock
        self._monotonic = monotonic
        self._margin = safety_margin_seconds
        self._max_workers = max_workers

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """Deliver one stream batch by the invocation's deadline; return the partial batch response."""
        records = [DynamoDBRecord(raw) for raw in event.get("Records") or []]
        deadline = self._monotonic() + context.get_remaining_time_in_millis() / 1000 - self._margin
        messages, poisoned_at = self._messages(records)
        outcome = _Outcome(poisoned_at=poisoned_at)
        if self._urls and any(message is not None for message in messages):
            outcome.progress = self._deliver(messages, deadline)
        first_undelivered = min(
            [len(records)] + [p.accepted for p in outcome.progress] + ([poisoned_at] if poisoned_at is not None else [])
        )
        self._report(messages, outcome, retry_from=first_undelivered if first_undelivered < len(records) else None)
        return partial_response(_sequence_number(record) for record in records[first_undelivered:])

    def _messages(self, records: Sequence[DynamoDBRecord]) -> tuple[list[_Message | None], int | None]:
        """The body per record (None: not a user item), up to the first record that cannot be read."""
        messages: list[_Message | None] = []
        for index, record in enumerate(records):
            try:
                payload = webhook_event(record)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                logger.error("stream record is not a user change", index=index, error=type(exc).__name__)
                return messages, index
            if payload is None:
                # Only the item's kind (USERNAME#..., EMAIL#... hold personal data after the #).
                kind = str((record.dynamodb.keys if record.dynamodb else {}).get("pk", "")).split("#", 1)[0]
                logger.info("stream record skipped: not a user item", index=index, kind=kind)
                messages.append(None)
                continue
            body = json.dumps(payload, separators=(",", ":")).encode()
            messages.append(_Message(payload["id"], payload["type"], body))
        return messages, None

    def _deliver(self, messages: list[_Message | None], deadline: float) -> list[_Progress]:
        progress = [_Progress(url) for url in self._urls]
        secrets = self._secrets()
        pool = ThreadPoolExecutor(max_workers=min(len(progress), self._max_workers), thread_name_prefix="webhook")
        try:
            futures: list[Future[None]] = [
                pool.submit(self._deliver_to, one, messages, secrets_of(secrets, one.url), deadline) for one in progress
            ]
            wait_for(futures, timeout=max(deadline - self._monotonic(), 0) + STRAGGLER_GRACE_SECONDS)
        finally:
            # Never wait for a straggler: its subscriber counts as not delivered, and its
            # thread ends when its socket times out.
            pool.shutdown(wait=False, cancel_futures=True)
        for one in progress:
            if not one.finished and one.failure is None:
                one.failure = "deadline"
        return progress

    def _deliver_to(
        self, progress: _Progress, messages: list[_Message | None], secrets: Secrets, deadline: float
    ) -> None:
        try:
            if not secrets and any(messages):
                # Never signed with another subscriber's secret: nothing goes out without its own.
                logger.error("webhook subscriber has no secret of its own", subscriber=progress.url)
                progress.failure = "no secret"
                return
            for message in messages:
                if message is not None:
                    failure = "deadline" if deadline - self._monotonic() < MIN_ATTEMPT_SECONDS else None
                    failure = failure or self._post(progress.url, message, secrets, deadline)
                    if failure is not None:
                        progress.failure = failure
                        return
                    progress.sent += 1
                progress.accepted += 1
        finally:
            progress.finished = True

    def _post(self, url: str, message: _Message, secrets: Secrets, deadline: float) -> str | None:
        """None when the subscriber accepted the message, else why not."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secrets[0], int(self._clock()), message.body, *secrets[1:]),
            "Nexus-Event-Id": message.event_id,
            "Nexus-Event-Type": message.event_type,
        }
        try:
            result = self._http.post(url, data=message.body, headers=headers, deadline=deadline)
        except DeadlineExceededError:
            return "deadline"
        except NexusError as exc:
            return exc.code
        return None if result.ok else f"status {result.status_code}"

    def _report(self, messages: list[_Message | None], outcome: _Outcome, retry_from: int | None) -> None:
        sent = sum(p.sent for p in outcome.progress)
        failed = [p for p in outcome.progress if p.failure is not None and p.failure != "deadline"]
        # Deliveries not made in this invocation: a subscriber's messages from where it stopped.
        deferred = sum(
            sum(1 for m in messages[p.accepted :] if m is not None) for p in outcome.progress if p.failure is not None
        )
        if sent:
            metrics.add_metric(name="WebhooksDelivered", unit=MetricUnit.Count, value=sent)
        if failed:
            metrics.add_metric(name="WebhookDeliveryFailures", unit=MetricUnit.Count, value=len(failed))
        if deferred:
            metrics.add_metric(name="WebhooksDeferred", unit=MetricUnit.Count, value=deferred)
        if retry_from is not None:
            logger.warning(
                "webhooks left for the retry",
                retry_from_record=retry_from,
                unreadable_record=outcome.poisoned_at,
                deferred=deferred,
                subscribers=[
                    {"host": p.host, "accepted": p.accepted, "failure": p.failure}
                    for p in outcome.progress
                    if p.failure is not None
                ],
            )


def _sequence_number(record: DynamoDBRecord) -> str:
    stream = record.dynamodb
    return str(stream.sequence_number if stream is not None else "")
