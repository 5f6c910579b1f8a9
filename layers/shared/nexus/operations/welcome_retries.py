"""The welcome-email queue's consumer: send again what failed at sign-up, never twice.

Each message names a user; a user deleted since is dropped. A send that fails again is
reported, and the queue delivers the message later (its redrive policy ends in the
dead-letter queue). ``WelcomeEmails.send`` is idempotent per user, so a redelivered message
whose email went out sends nothing.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.observability import logger
from nexus.operations.batch import EventType, failed_records, partial_response
from nexus.operations.welcome import WelcomeEmails
from nexus.services import Service, inject
from nexus.users import UserService


class WelcomeRetries(Service):
    def __init__(self, welcome: WelcomeEmails = inject(), users: UserService = inject()) -> None:
        super().__init__()
        self._welcome = welcome
        self._users = users

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """One SQS batch; the partial batch response (the messages to deliver again)."""
        return partial_response(failed_records(event.get("Records") or [], EventType.SQS, self._retry, context))

    def _retry(self, record: SQSRecord) -> None:
        user_id = json.loads(record.body)["user_id"]
        user = self._users.get_user_by_id(user_id)
        if user is None:
            logger.info("welcome email dropped: the user was deleted", user_id=user_id)
            return
        self._welcome.send(user)
