"""Signed webhooks for user changes, driven by the users table's DynamoDB stream."""

from nexus.webhooks.publisher import WebhookPublisher
from nexus.webhooks.signing import SIGNATURE_HEADER, sign, verify

__all__ = ["SIGNATURE_HEADER", "WebhookPublisher", "sign", "verify"]
