"""The email package's errors: subclasses of the layer's one hierarchy, with no HTTP mapping
of their own (an unmapped NexusError is a 500 naming no internals)."""

from __future__ import annotations

from nexus.errors import NexusError

# SES error codes that mean "try again later" (after botocore's own retries ran out).
RETRYABLE_SES_ERROR_CODES = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
)


class EmailSendError(NexusError):
    """SES did not accept the message (rejected, throttled, sending paused) or could not be reached.

    ``ses_error_code`` is SES's own error code (e.g. ``MessageRejected``), or None when the
    request never got an answer (connection or read timeout: the message may or may not
    have been accepted). ``retryable`` says whether sending again later can help.
    """

    code = "email_send_failed"

    def __init__(self, message: str, *, ses_error_code: str | None, retryable: bool = False) -> None:
        super().__init__(message)
        self.ses_error_code = ses_error_code
        self.retryable = retryable


class EmailTemplateError(NexusError):
    """An email template cannot be rendered: an unsafe or unknown name, a syntax error, or
    data missing a variable the template uses. Always a server-side fault, never the
    caller's input, hence not a ValidationError."""

    code = "email_template_error"

    def __init__(self, message: str, *, template_name: str) -> None:
        super().__init__(message)
        self.template_name = template_name
