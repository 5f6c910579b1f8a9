"""The email package's errors: subclasses of the layer's one hierarchy, with no HTTP mapping
of their own (an unmapped NexusError is a 500).

``message`` (which an API error response shows) stays generic; ``detail`` (in ``str()``, so
in logs and tracebacks) says what went wrong, naming SES codes or template internals.
"""

from __future__ import annotations

from nexus.errors import NexusError

# SES error codes that mean "try again later" (after botocore's own retries ran out).
RETRYABLE_SES_ERROR_CODES = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
)


class EmailSendError(NexusError):
    """SES did not accept the message (rejected, throttled, sending paused) or could not be reached.

    ``ses_error_code`` is SES's own error code (e.g. ``MessageRejected``), or None when the
    request got no answer (connection or read timeout: the message may or may not have been
    accepted). ``retryable`` says whether sending again later can help.
    """

    code = "email_send_failed"

    def __init__(self, detail: str, *, ses_error_code: str | None, retryable: bool = False) -> None:
        super().__init__("Email could not be sent")
        self.detail = detail
        self.ses_error_code = ses_error_code
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.message}: {self.detail}"


class EmailTemplateError(NexusError):
    """An email template cannot be rendered: an unsafe or unknown name, a syntax error, or
    data missing a variable the template uses. Always a server-side fault, never the
    caller's input, hence not a ValidationError."""

    code = "email_template_error"

    def __init__(self, detail: str, *, template_name: str) -> None:
        super().__init__("Email template could not be rendered")
        self.detail = detail
        self.template_name = template_name

    def __str__(self) -> str:
        return f"{self.message}: {self.detail}"
