"""Users-table stream trigger: post signed user.created / user.updated / user.deleted webhooks."""

from nexus.entrypoints import event_entrypoint
from nexus.operations.publish_webhooks import WebhookPublisher

handler = event_entrypoint(WebhookPublisher)
