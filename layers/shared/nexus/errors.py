"""The one error hierarchy of the layer. ``nexus.api.errors`` maps it to HTTP."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


class NexusError(Exception):
    """Base of every expected failure; ``code`` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequestError(NexusError):
    """The request cannot be read: not JSON, a query value of the wrong type, a bad cursor.

    ``details`` names each query parameter of the wrong type, as a 422 names its fields.
    """

    code = "bad_request"

    def __init__(self, message: str, details: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class UnauthorizedError(NexusError):
    code = "unauthorized"


class ForbiddenError(NexusError):
    code = "forbidden"


class NotFoundError(NexusError):
    code = "not_found"


class ConflictError(NexusError):
    """A uniqueness or idempotency conflict; the code says which (e.g. ``username_taken``)."""

    code = "conflict"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)


class PayloadTooLargeError(NexusError):
    code = "payload_too_large"


class ValidationError(NexusError):
    """A field breaks a rule; ``details`` lists each field and why."""

    code = "validation_error"

    def __init__(self, details: list[FieldError], message: str = "Request validation failed") -> None:
        super().__init__(message)
        self.details = details


class EventsNotAcceptedError(NexusError):
    """The stream did not take every event of a request: send them again (with their ``event_id``)."""

    code = "events_not_accepted"

    def __init__(self, not_accepted: int, of: int) -> None:
        super().__init__(f"{not_accepted} of {of} events were not accepted: send the request again")
        self.not_accepted = not_accepted


class ConfigurationError(RuntimeError):
    """The environment does not configure the layer correctly; raised at cold start."""
