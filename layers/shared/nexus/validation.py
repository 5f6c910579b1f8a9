"""Text rules shared by the API schemas, the settings and the email service."""

from __future__ import annotations

import unicodedata

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]{3,50}$"
# The WHATWG HTML "valid e-mail address" rule, with a dot required in the domain.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)+$"
)
# A client's retry token: printable ASCII, as with the usual Idempotency-Key header drafts.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"

# has_control_characters as a JSON Schema pattern: Unicode's Cc category is exactly these.
NO_CONTROL_CHARACTERS_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"

# Set by the service, never by a request body.
READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at"})


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)
