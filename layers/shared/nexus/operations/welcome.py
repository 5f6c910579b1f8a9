"""The welcome email: sent once per user, inline at sign-up, with a retry path when SES fails.

Happy path (no record of its own): ``create_user_with_welcome`` sends the email right after
the sign-up transaction, and that is all. The request that created the user is the only
one that knows it yet, so nothing else can send it meanwhile (a retried request with an
``Idempotency-Key`` is held off by the request's own idempotency record).

Retry path, only when SES fails at sign-up: the user is still created (201); the failure is
logged and counted (``WelcomeEmailFailures``) and the user id goes onto the welcome-email
queue, whose consumer (``welcome_retries``) sends it under a lease kept in the user item.

The SQS client is built on the first SES failure, not at cold start: a sign-up that sends
never needs it.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from nexus import aws, deadline
from nexus.email import EmailService
from nexus.errors import NexusError
from nexus.observability import logger, metrics
from nexus.services import Service, inject
from nexus.settings import WelcomeQueueSettings
from nexus.users import User

# A send (SES: 2 attempts of at most 3 s, nexus.aws) and, should it fail, the queueing and the
# answer: with less time left the welcome goes straight to the queue.
SEND_BUDGET_SECONDS = 8.0


class WelcomeEmails(Service):
    def __init__(self, email: EmailService = inject(), queue: WelcomeQueueSettings = inject()) -> None:
        super().__init__()
        self._email = email
        self._queue_url = queue.welcome_email_queue_url

    @cached_property
    def _sqs(self) -> Any:
        return aws.client("sqs")

    def send(self, user: User) -> None:
        """Send the welcome email now; raise ``NexusError`` if SES fails."""
        self._email.send_template_email(
            to=[user.email],
            template_name="welcome",
            template_data={"username": user.username, "full_name": user.full_name or user.username},
        )

    def send_or_queue(self, user: User) -> bool:
        """Send now; on failure, or with too little time left to send, queue a retry instead of
        failing the caller. True if sent now."""
        left = deadline.seconds_left()
        if left is not None and left < SEND_BUDGET_SECONDS:
            logger.warning("welcome email queued: too little time left to send it", user_id=user.id, seconds_left=left)
            self.queue(user)
            return False
        try:
            self.send(user)
        except NexusError as exc:
            logger.warning("welcome email failed; queued for retry", user_id=user.id, error_code=exc.code)
            metrics.add_metric(name="WelcomeEmailFailures", unit=MetricUnit.Count, value=1)
            self.queue(user)
            return False
        return True

    def queue(self, user: User) -> None:
        """Put the user's welcome on the retry queue (its consumer sends it at most once)."""
        try:
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps({"user_id": user.id}))
        except Exception:
            # Neither sent nor queued: only an operator can still send it (docs/OPERATIONS.md).
            logger.exception("welcome email neither sent nor queued", user_id=user.id)
            metrics.add_metric(name="WelcomeEmailsNotQueued", unit=MetricUnit.Count, value=1)
            raise
