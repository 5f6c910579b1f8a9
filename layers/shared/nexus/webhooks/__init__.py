"""Signing of the user webhooks; the publisher is ``nexus.operations.publish_webhooks``."""

from nexus.webhooks.signing import SIGNATURE_HEADER, sign, verify

__all__ = ["SIGNATURE_HEADER", "sign", "verify"]
