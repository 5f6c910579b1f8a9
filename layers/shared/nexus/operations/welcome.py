"""The welcome email: sent at most once per user, with a retry path for when SES fails.

``create_user_with_welcome`` sends it inline. If SES rejects or throttles the send, the
user is still created (201); the failure is logged and counted (``WelcomeEmailFailures``)
and the user id goes onto the welcome-email queue, whose consumer tries again. Both paths
send through one Powertools idempotent function keyed by the user id, so once a send has
succeeded every later attempt — a queue redelivery, a duplicate message — returns the
stored result instead of sending again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus import aws
from nexus.email import EmailService
from nexus.errors import NexusError
from nexus.observability import logger, metrics
from nexus.services import Service, inject
from nexus.settings import Settings
from nexus.users import User, UserService

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# Longer than the queue keeps a message (14 days): a late retry still finds the record.
_SENT_RECORD_SECONDS = 15 * 24 * 3600


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
        self._settings = settings
        self._config = IdempotencyConfig(event_key_jmespath="user_id", expires_after_seconds=_SENT_RECORD_SECONDS)

    def _setup(self) -> None:
        store = DynamoDBPersistenceLayer(
            table_name=self._settings.idempotency_table_name, boto3_client=aws.client("dynamodb")
        )
        self._send_once = idempotent_function(
            self._send,
            data_keyword_argument="recipient",
            persistence_store=store,
            config=self._config,
            key_prefix="welcome-email",
        )
        self._sqs = aws.client("sqs")

    def begin_invocation(self, context: object) -> None:
        if hasattr(context, "get_remaining_time_in_millis"):
            self._config.register_lambda_context(cast(LambdaContext, context))

    def _send(self, recipient: dict[str, Any]) -> dict[str, str]:
        message_id = self._email.send_template_email(
            to=[recipient["email"]],
            template_name="welcome",
            template_data={"username": recipient["username"], "full_name": recipient["full_name"]},
        )
        return {"message_id": message_id}

    def send(self, user: User) -> None:
        """Send the welcome email unless it was sent before; raise ``NexusError`` if SES fails."""
        self.validate_initialization()
        recipient = {
            "user_id": user.id,
            "email": user.email,
            "username": user.username,
            "full_name": user.full_name or user.username,
        }
        self._send_once(recipient=recipient)

    def send_or_queue(self, user: User) -> bool:
        """Send now; on failure, queue a retry instead of failing the caller. True if sent now."""
        try:
            self.send(user)
        except NexusError as exc:
            logger.warning("welcome email failed; queued for retry", user_id=user.id, error_code=exc.code)
            metrics.add_metric(name="WelcomeEmailFailures", unit=MetricUnit.Count, value=1)
            try:
                self._sqs.send_message(
                    QueueUrl=self._settings.welcome_email_queue_url,
                    MessageBody=json.dumps({"user_id": user.id}),
                )
            except Exception:
                # Neither sent nor queued: only an operator can still send it (docs/OPERATIONS.md).
                logger.exception("welcome email neither sent nor queued", user_id=user.id)
                metrics.add_metric(name="WelcomeEmailsNotQueued", unit=MetricUnit.Count, value=1)
                raise
            return False
        return True

    def retry_batch(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """The queue consumer: a message that fails again is reported and comes back later."""
        # Only the queue consumer loads the batch utility (its types import every parser model:
        # Kafka, CloudWatch, ...): create user's cold start, which sends inline, does not.
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

        self.validate_initialization()
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response = process_partial_response(
            event=event, record_handler=self._retry, processor=processor, context=context
        )
        return dict(response)

    def _retry(self, record: SQSRecord) -> None:
        user_id = json.loads(record.body)["user_id"]
        user = self._users.get_user_by_id(user_id)
        if user is None:
            logger.info("welcome email dropped: the user was deleted", user_id=user_id)
            return
        self.send(user)
