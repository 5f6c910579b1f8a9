"""Users-table stream trigger: post signed user.created / user.updated / user.deleted webhooks."""

from nexus.entrypoints import event_entrypoint
from nexus.operations.publish_webhooks import WebhookPublishing

handler = event_entrypoint(WebhookPublishing)
