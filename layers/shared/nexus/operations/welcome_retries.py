"""The welcome-email queue's consumer: send again what failed at sign-up, never twice. SQS delivers
at least once, so each send runs under a lease kept in the user item (``WelcomeLeases``), which is
marked once the email went out.

docs/decisions.md, "Welcome email once without an idempotency record: send inline, lease on the
user item only on retry".
"""

from __future__ import annotations

import json
import math
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.errors import NexusError
from nexus.observability import logger
from nexus.operations.batch import EventType, failed_records, partial_response
from nexus.operations.welcome import WelcomeEmails
from nexus.services import Service, inject
from nexus.users.welcome_lease import WelcomeClaim, WelcomeLeases

# The lease when the invocation's remaining time is unknown (called outside Lambda).
_DEFAULT_LEASE_SECONDS = 60
# A lease outlives the invocation that took it by this much, so that it cannot lapse while
# that invocation still sends.
_LEASE_MARGIN_SECONDS = 5


class WelcomeStillSending(NexusError):
    """Another consumer holds the lease on this user's welcome email; the message comes back later."""

    code = "welcome_in_progress"


class WelcomeRetries(Service):
    def __init__(self, welcome: WelcomeEmails = inject(), leases: WelcomeLeases = inject()) -> None:
        super().__init__()
        self._welcome = welcome
        self._leases = leases
        self._lease_seconds = _DEFAULT_LEASE_SECONDS

    def begin_invocation(self, context: object) -> None:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining):
            self._lease_seconds = math.ceil(remaining() / 1000) + _LEASE_MARGIN_SECONDS

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """One SQS batch; the partial batch response (the messages to deliver again)."""
        return partial_response(failed_records(event.get("Records") or [], EventType.SQS, self._retry, context))

    def _retry(self, record: SQSRecord) -> None:
        user_id = json.loads(record.body)["user_id"]
        lease = self._leases.claim_welcome(user_id, self._lease_seconds)
        if lease.claim is WelcomeClaim.NO_USER:
            logger.info("welcome email dropped: the user was deleted", user_id=user_id)
            return
        if lease.claim is WelcomeClaim.ALREADY_SENT:
            logger.info("welcome email dropped: already sent", user_id=user_id)
            return
        if lease.claim is WelcomeClaim.IN_PROGRESS or lease.user is None:
            raise WelcomeStillSending(f"the welcome email of {user_id} is being sent by another consumer")
        try:
            self._welcome.send(lease.user)
        except Exception:
            try:
                self._leases.release_welcome(user_id, lease)
            except Exception:  # noqa: BLE001 - the send's error is the one to report; the lease lapses
                logger.warning("welcome email lease not released; it lapses by itself", user_id=user_id)
            raise
        try:
            self._leases.welcome_sent(user_id)
        except Exception:  # noqa: BLE001 - the email went out: a redelivery would only send it again
            logger.warning("welcome email sent but not marked; the message is done", user_id=user_id)
