"""The welcome email, sent once per user: inline right after the sign-up, which writes nothing about
it; when SES fails (or too little time is left) the user is still created and the welcome goes
onto the queue that ``welcome_retries`` consumes.

docs/decisions.md, "Welcome email once without an idempotency record: send inline, lease on the
user item only on retry".
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

    # Built at the first failure: a sign-up that sends never needs it.
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
