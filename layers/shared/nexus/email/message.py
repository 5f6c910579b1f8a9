"""A validated outgoing email and its two SES v2 forms: Simple content, or raw MIME.

Every header value (addresses, sender name, subject, attachment filenames) is checked for
control and line-break characters before anything is built, so no input can add a header.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formataddr
from typing import Any

from nexus.errors import FieldError, ValidationError
from nexus.text_rules import EMAIL_PATTERN

MAX_RECIPIENTS = 50  # SES: at most 50 recipients across To, Cc and Bcc
MAX_ADDRESS_LENGTH = 254  # RFC 5321 path limit
MAX_MESSAGE_BYTES = 40 * 1024 * 1024  # SES v2: 40 MB per message, attachments and encoding included

_EMAIL_RE = re.compile(EMAIL_PATTERN)
_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}")
# Control characters, and the Unicode line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


def has_unsafe_characters(text: str) -> bool:
    """Whether ``text`` holds a character that could break a header line (CR, LF, any control)."""
    return any(unicodedata.category(char) in _UNSAFE_CATEGORIES for char in text)


def header_text_errors(field: str, value: object, *, required: bool) -> list[FieldError]:
    if not isinstance(value, str):
        return [FieldError(field, "must be a string")]
    if has_unsafe_characters(value):
        return [FieldError(field, "must not contain control characters or line breaks")]
    if required and not value.strip():
        return [FieldError(field, "must not be blank")]
    return []


def address_errors(field: str, value: object) -> list[FieldError]:
    errors = header_text_errors(field, value, required=True)
    if errors:
        return errors
    assert isinstance(value, str)
    if len(value) > MAX_ADDRESS_LENGTH or not _EMAIL_RE.fullmatch(value):
        return [FieldError(field, "must be a valid email address")]
    return []


def recipient_list(value: str | Sequence[str] | None) -> list[str]:
    """A recipient argument as a list: one address alone, or a sequence of them."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _attachment_errors(index: int, attachment: object) -> list[FieldError]:
    field = f"attachments[{index}]"
    if not isinstance(attachment, Attachment):
        return [FieldError(field, "must be an Attachment")]
    errors = header_text_errors(f"{field}.filename", attachment.filename, required=True)
    if not isinstance(attachment.content, bytes):
        errors.append(FieldError(f"{field}.content", "must be bytes"))
    content_type = attachment.content_type
    if not isinstance(content_type, str) or not _CONTENT_TYPE_RE.fullmatch(content_type):
        errors.append(FieldError(f"{field}.content_type", "must be a MIME type such as application/pdf"))
    elif content_type.split("/")[0].lower() in ("multipart", "message"):
        errors.append(FieldError(f"{field}.content_type", "must not be a multipart or message type"))
    return errors


@dataclass(frozen=True)
class OutgoingEmail:
    """An email whose every part has been validated (build it with ``OutgoingEmail.create``)."""

    from_address: str  # formatted "Name <address>"
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]

    @property
    def recipient_count(self) -> int:
        return len(self.to) + len(self.cc) + len(self.bcc)

    @classmethod
    def create(
        cls,
        *,
        from_address: str,
        to: str | Sequence[str],
        subject: str,
        text: str,
        html: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        attachments: Sequence[Attachment] | None = None,
    ) -> OutgoingEmail:
        """Validate every argument; raises one ValidationError listing every broken field."""
        recipients = {"to": recipient_list(to), "cc": recipient_list(cc), "bcc": recipient_list(bcc)}
        attachment_list = list(attachments or ())
        errors: list[FieldError] = []
        for kind, addresses in recipients.items():
            for index, address in enumerate(addresses):
                errors += address_errors(f"{kind}[{index}]", address)
        if not recipients["to"]:
            errors.append(FieldError("to", "must name at least one recipient"))
        total = sum(len(addresses) for addresses in recipients.values())
        if total > MAX_RECIPIENTS:
            errors.append(FieldError("recipients", f"at most {MAX_RECIPIENTS} recipients across to, cc and bcc"))
        errors += header_text_errors("subject", subject, required=True)
        if not isinstance(text, str):
            errors.append(FieldError("body", "must be a string"))
        if html is not None and not isinstance(html, str):
            errors.append(FieldError("html_body", "must be a string"))
        for index, attachment in enumerate(attachment_list):
            errors += _attachment_errors(index, attachment)
        if errors:
            raise ValidationError(errors, "Invalid email")
        return cls(
            from_address=from_address,
            to=tuple(recipients["to"]),
            cc=tuple(recipients["cc"]),
            bcc=tuple(recipients["bcc"]),
            subject=subject,
            text=text,
            html=html,
            attachments=tuple(attachment_list),
        )

    def destination(self) -> dict[str, list[str]]:
        """The SES envelope: every recipient, Bcc included."""
        destination = {"ToAddresses": list(self.to)}
        if self.cc:
            destination["CcAddresses"] = list(self.cc)
        if self.bcc:
            destination["BccAddresses"] = list(self.bcc)
        return destination

    def simple_content(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Text": {"Data": self.text, "Charset": "UTF-8"}}
        if self.html is not None:
            body["Html"] = {"Data": self.html, "Charset": "UTF-8"}
        return {"Simple": {"Subject": {"Data": self.subject, "Charset": "UTF-8"}, "Body": body}}

    def mime_bytes(self) -> bytes:
        """The message as raw MIME: multipart/mixed of the (alternative) body, then each
        attachment. Bcc is deliberately absent from the headers (it is in the envelope)."""
        # Only a message with attachments is raw MIME: the others' cold start skips email.policy.
        from email.message import EmailMessage
        from email.policy import SMTP

        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = ", ".join(self.to)
        if self.cc:
            message["Cc"] = ", ".join(self.cc)
        message["Subject"] = self.subject
        message.set_content(self.text, subtype="plain", cte="quoted-printable")
        if self.html is not None:
            message.add_alternative(self.html, subtype="html", cte="quoted-printable")
        for attachment in self.attachments:
            maintype, subtype = attachment.content_type.lower().split("/")
            message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
        raw = message.as_bytes(policy=SMTP)
        if len(raw) > MAX_MESSAGE_BYTES:
            raise ValidationError(
                [FieldError("attachments", f"the encoded message must be at most {MAX_MESSAGE_BYTES} bytes")],
                "Invalid email",
            )
        return raw

    def raw_content(self) -> dict[str, Any]:
        return {"Raw": {"Data": self.mime_bytes()}}

    def content(self) -> dict[str, Any]:
        """SES v2 ``Content``: Simple, or Raw MIME when there are attachments."""
        return self.raw_content() if self.attachments else self.simple_content()


def format_sender(name: str, address: str) -> str:
    """``Name <address>`` (the name quoted or RFC 2047-encoded as needed), after validation."""
    errors = address_errors("sender_address", address) + header_text_errors("sender_name", name, required=False)
    if errors:
        raise ValidationError(errors, "Invalid email sender")
    return formataddr((name, address))
