"""Mail sent through the embedded moto's SES, as the inbox page and `/_local/emails` show it.

moto keeps what it was sent (its SES backend's ``sent_messages``, emptied by a reset) but not
when, and for SES v2 Simple content only the HTML part. ``SendRecorder`` sits in front of moto's
WSGI app and notes, per message id, the time and the request's text part; ``sent_mail`` joins both.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

SEND_EMAIL_V2 = "/v2/email/outbound-emails"
MOTO_FIELDS = ("id", "source", "destinations", "subject", "body", "raw_data", "template", "template_data")
MAX_RECORDED = 10_000  # a long session must not grow without bound


@dataclass(frozen=True)
class AttachmentInfo:
    filename: str
    content_type: str
    size: int  # bytes, decoded


@dataclass(frozen=True)
class SentMail:
    id: str
    source: str
    to: list[str]
    cc: list[str]
    subject: str
    sent_at: datetime | None  # None: sent before the recorder saw it (not through SES v2)
    text: str | None
    html: str | None
    attachments: list[AttachmentInfo] = field(default_factory=list)
    moto: dict[str, Any] = field(default_factory=dict)  # moto's own fields, as /_local/emails always gave them

    def document(self) -> dict[str, Any]:
        """The JSON form: moto's fields (id, source, destinations, subject, body, raw_data) and ours."""
        return {
            **self.moto,
            "id": self.id,
            "to": self.to,
            "cc": self.cc,
            "subject": self.subject,
            "sent_at": self.sent_at.isoformat().replace("+00:00", "Z") if self.sent_at else None,
            "text": self.text,
            "html": self.html,
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size} for a in self.attachments
            ],
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> SentMail:
        """The mail that ``document()`` gave (a snapshot keeps that form); ValueError, KeyError
        or TypeError for anything else."""
        sent_at = document["sent_at"]
        return cls(
            id=str(document["id"]),
            source=str(document.get("source") or ""),
            to=[str(address) for address in document["to"]],
            cc=[str(address) for address in document["cc"]],
            subject=str(document["subject"]),
            sent_at=None if sent_at is None else datetime.fromisoformat(str(sent_at)),
            text=None if document["text"] is None else str(document["text"]),
            html=None if document["html"] is None else str(document["html"]),
            attachments=[
                AttachmentInfo(str(a["filename"]), str(a["content_type"]), int(a["size"]))
                for a in document["attachments"]
            ],
            moto={name: document[name] for name in MOTO_FIELDS if name in document},
        )


@dataclass(frozen=True)
class _Sent:
    at: datetime
    text: str | None


class SendRecorder:
    """WSGI middleware: for each SES v2 SendEmail that moto accepts, its time and text part by message id."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self._sent: dict[str, _Sent] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != SEND_EMAIL_V2:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        status: list[str] = []

        def capture(code: str, headers: Any, *rest: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *rest)

        chunks = list(self.app(environ, capture))
        if status and status[0].startswith("200"):
            self._note(body, b"".join(chunks))
        return chunks

    def _note(self, request: bytes, response: bytes) -> None:
        try:
            message_id = str(json.loads(response)["MessageId"])
            simple = json.loads(request).get("Content", {}).get("Simple", {})
            text = simple.get("Body", {}).get("Text", {}).get("Data")
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        with self._lock:
            if len(self._sent) >= MAX_RECORDED:
                self._sent.pop(next(iter(self._sent)))
            self._sent[message_id] = _Sent(datetime.now(UTC), text if isinstance(text, str) else None)

    def get(self, message_id: str) -> _Sent | None:
        with self._lock:
            return self._sent.get(message_id)

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()


def _addresses(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _from_raw(raw: str) -> tuple[str, list[str], list[str], str | None, str | None, list[AttachmentInfo]]:
    parsed = message_from_string(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)  # policy.default parses into EmailMessage
    text_part, html_part = parsed.get_body(("plain",)), parsed.get_body(("html",))
    attachments = []
    for part in parsed.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        attachments.append(AttachmentInfo(part.get_filename() or "(no name)", part.get_content_type(), size))
    return (
        str(parsed.get("Subject", "")),
        [str(a) for a in (parsed.get("To").addresses if parsed.get("To") else ())],
        [str(a) for a in (parsed.get("Cc").addresses if parsed.get("Cc") else ())],
        str(text_part.get_content()) if text_part is not None else None,
        str(html_part.get_content()) if html_part is not None else None,
        attachments,
    )


def sent_mail(messages: list[Any], recorder: SendRecorder | None) -> list[SentMail]:
    """moto's sent messages (in send order), each with what the recorder noted about it."""
    found: list[SentMail] = []
    for message in messages:
        fields = ("id", "source", "destinations", "subject", "body", "raw_data", "template", "template_data")
        moto = dict(
            json.loads(json.dumps({n: getattr(message, n) for n in fields if hasattr(message, n)}, default=str))
        )
        noted = recorder.get(str(moto.get("id"))) if recorder else None
        attachments: list[AttachmentInfo] = []
        if isinstance(moto.get("raw_data"), str):
            subject, to, cc, text, html, attachments = _from_raw(moto["raw_data"])
        else:
            destinations = moto.get("destinations") if isinstance(moto.get("destinations"), dict) else {}
            to, cc = _addresses(destinations.get("ToAddresses")), _addresses(destinations.get("CcAddresses"))
            subject = str(moto.get("subject") or moto.get("template") or "")
            body = moto.get("body")
            text = noted.text if noted else None
            # moto keeps the HTML part when there is one; without the recorder's note, guess from the body.
            html = body if isinstance(body, str) and (text is not None or body.lstrip().startswith("<")) else None
            if html is None and text is None and isinstance(body, str):
                text = body
            if html is not None and html == text:
                html = None
        found.append(
            SentMail(
                id=str(moto.get("id")),
                source=str(moto.get("source") or ""),
                to=to,
                cc=cc,
                subject=subject,
                sent_at=noted.at if noted else None,
                text=text,
                html=html,
                attachments=attachments,
                moto=moto,
            )
        )
    return found
