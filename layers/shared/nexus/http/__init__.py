"""Outbound HTTP: HTTPService (pooled, retried, SSRF-guarded) and its errors."""

from nexus.http.errors import DeadlineExceededError, ForbiddenDestinationError, OutboundRequestError
from nexus.http.guard import Destination, DestinationGuard, Resolver, address_refusal, system_resolver
from nexus.http.service import HTTPResult, HTTPService

__all__ = [
    "DeadlineExceededError",
    "Destination",
    "DestinationGuard",
    "ForbiddenDestinationError",
    "HTTPResult",
    "HTTPService",
    "OutboundRequestError",
    "Resolver",
    "address_refusal",
    "system_resolver",
]
