"""Text rules shared by the API schemas, the settings and the email service."""

from __future__ import annotations

import re
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

# Unicode's format characters (Cf) in the Basic Multilingual Plane that hide or reorder text:
# bidi overrides and marks, zero-width spaces, the soft hyphen. The zero-width joiner and
# non-joiner (U+200C, U+200D) are left out: Persian, Indic scripts and emoji need them.
FORMAT_CHARACTERS = (  # as escapes, so that the OpenAPI document shows them
    r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
    r"\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
)
# A name as a person sees it: neither control nor such format characters.
VISIBLE_TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f" + FORMAT_CHARACTERS + r"]*$"
_FORMAT_CHARACTER = re.compile("[" + FORMAT_CHARACTERS + "]")

# Set by the service, never by a request body.
READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at"})


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def has_format_characters(text: str) -> bool:
    return _FORMAT_CHARACTER.search(text) is not None
