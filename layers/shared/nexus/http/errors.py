"""Errors of outbound HTTP: both are part of the layer's one ``NexusError`` hierarchy."""

from __future__ import annotations

from nexus.errors import NexusError


class OutboundRequestError(NexusError):
    """An outbound request could not be completed: the host could not be resolved or
    reached, the connection or a read timed out, TLS failed, retries ran out on errors,
    there were too many redirects, or the response was larger than allowed.

    A response with any status code (4xx, or a 5xx left after retries) is *not* this
    error: it is returned as an :class:`~nexus.http.HTTPResult`.
    """

    code = "outbound_request_failed"

    def __init__(self, message: str, *, host: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.host = host
        self.attempts = attempts


class DeadlineExceededError(OutboundRequestError):
    """Too little time was left before the caller's deadline to send the request (or a
    redirect hop of it): nothing was sent for that hop."""

    code = "outbound_deadline_exceeded"


class ForbiddenDestinationError(NexusError):
    """The SSRF guard refused a destination before any connection was attempted."""

    code = "forbidden_destination"

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"refused outbound request to {host!r}: {reason}")
        self.host = host
        self.reason = reason
