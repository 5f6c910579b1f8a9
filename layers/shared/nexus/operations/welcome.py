"""The welcome email: sent once per user, inline at sign-up, with a retry path when SES fails.

Happy path (no record of its own): ``create_user_with_welcome`` sends the email right after
the sign-up transaction, and that is all. The request that created the user is the only
one that knows it yet, so nothing else can send it meanwhile (a retried request with an
``Idempotency-Key`` is held off by the request's own idempotency record).

Retry path, only when SES fails at sign-up: the user is still created (201); the failure is
logged and counted (``WelcomeEmailFailures``) and the user id goes onto the welcome-email
queue. Its consumer may see a message more than once (SQS delivers at least once; a
failed attempt comes back), so it sends under a lease kept in the user item itself
(``UserService.claim_welcome``: one conditional UpdateItem):

- claimed: send, then mark the user item ``welcome_sent_at`` (which ends the lease); a
  failed send drops the lease and the message comes back later; a marker that cannot be
  written after a send is logged, and the message is done all the same;
- already sent: a redelivery or a duplicate message, dropped;
- leased by another consumer still sending: reported, so the message comes back after it;
- no such user (deleted meanwhile): dropped.

What no design can rule out: SES accepting a send whose answer is then lost (a timeout) is
a failure to the sender, who queues or retries it: that user gets the email twice.

The SQS client is built on the first SES failure, not at cold start: a sign-up that sends
never needs it.
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus import aws
from nexus.email import EmailService
from nexus.errors import NexusError
from nexus.observability import logger, metrics
from nexus.services import Service, inject
from nexus.settings import Settings
from nexus.users import User, UserService
from nexus.users.service import WelcomeClaim

# The lease when the invocation's remaining time is unknown (called outside Lambda).
_DEFAULT_LEASE_SECONDS = 60
# A lease outlives the invocation that took it by this much, so that it cannot lapse while
# that invocation still sends.
_LEASE_MARGIN_SECONDS = 5


class WelcomeStillSending(NexusError):
    """Another consumer holds the lease on this user's welcome email; the message comes back later."""

    code = "welcome_in_progress"


class WelcomeEmails(Service):
    def __init__(
        self,
        email: EmailService = inject(),
        users: UserService = inject(),
        settings: Settings = inject(),
    ) -> None:
        super().__init__()
        self._email = email
        self._users = users
        self._queue_url = settings.welcome_email_queue_url
        self._lease_seconds = _DEFAULT_LEASE_SECONDS

    @cached_property
    def _sqs(self) -> Any:
        return aws.client("sqs")

    def begin_invocation(self, context: object) -> None:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining):
            self._lease_seconds = math.ceil(remaining() / 1000) + _LEASE_MARGIN_SECONDS

    def send(self, user: User) -> None:
        """Send the welcome email now; raise ``NexusError`` if SES fails."""
        self.validate_initialization()
        self._email.send_template_email(
            to=[user.email],
            template_name="welcome",
            template_data={"username": user.username, "full_name": user.full_name or user.username},
        )

    def send_or_queue(self, user: User) -> bool:
        """Send now; on failure, queue a retry instead of failing the caller. True if sent now."""
        try:
            self.send(user)
        except NexusError as exc:
            logger.warning("welcome email failed; queued for retry", user_id=user.id, error_code=exc.code)
            metrics.add_metric(name="WelcomeEmailFailures", unit=MetricUnit.Count, value=1)
            try:
                self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps({"user_id": user.id}))
            except Exception:
                # Neither sent nor queued: only an operator can still send it (docs/OPERATIONS.md).
                logger.exception("welcome email neither sent nor queued", user_id=user.id)
                metrics.add_metric(name="WelcomeEmailsNotQueued", unit=MetricUnit.Count, value=1)
                raise
            return False
        return True

    def retry_batch(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """The queue consumer: a message that fails again is reported and comes back later."""
        self.validate_initialization()
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response = process_partial_response(
            event=event, record_handler=self._retry, processor=processor, context=context
        )
        return dict(response)

    def _retry(self, record: SQSRecord) -> None:
        user_id = json.loads(record.body)["user_id"]
        lease = self._users.claim_welcome(user_id, self._lease_seconds)
        if lease.claim is WelcomeClaim.NO_USER:
            logger.info("welcome email dropped: the user was deleted", user_id=user_id)
            return
        if lease.claim is WelcomeClaim.ALREADY_SENT:
            logger.info("welcome email dropped: already sent", user_id=user_id)
            return
        if lease.claim is WelcomeClaim.IN_PROGRESS or lease.user is None:
            raise WelcomeStillSending(f"the welcome email of {user_id} is being sent by another consumer")
        try:
            self.send(lease.user)
        except Exception:
            try:
                self._users.release_welcome(user_id, lease)
            except Exception:  # noqa: BLE001 - the send's error is the one to report; the lease lapses
                logger.warning("welcome email lease not released; it lapses by itself", user_id=user_id)
            raise
        try:
            self._users.welcome_sent(user_id)
        except Exception:  # noqa: BLE001 - the email went out: a redelivery would only send it again
            logger.warning("welcome email sent but not marked; the message is done", user_id=user_id)
