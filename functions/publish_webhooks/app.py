"""Users-table stream trigger: post signed user.created / user.updated / user.deleted webhooks."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.entrypoints import event_entrypoint
from nexus.operations.publish_webhooks import WebhookPublisher
from nexus.services import get_service


def publish_webhooks(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return get_service(WebhookPublisher).handle(event, context)


handler = event_entrypoint(publish_webhooks, WebhookPublisher)
