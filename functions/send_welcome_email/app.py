"""Welcome-email queue trigger: retry welcome emails that failed at sign-up, never twice."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.entrypoints import event_entrypoint
from nexus.operations.welcome_retries import WelcomeRetries
from nexus.services import get_service


def send_welcome_emails(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return get_service(WelcomeRetries).handle(event, context)


handler = event_entrypoint(send_welcome_emails, WelcomeRetries)
