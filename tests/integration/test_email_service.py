"""EmailService against SES v2 in in-process moto: what SES receives, and what never reaches it.

moto stores each accepted message in its SES backend: a ``Message`` (Simple content; it keeps
only one body, the HTML one when there is HTML) or a ``RawMessage`` (the raw MIME text). The
exact request sent is also recorded from the client's ``provide-client-params`` event.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import Message, RawMessage, ses_backends

from local.account import REGION
from local.provisioning import LocalResources
from nexus import aws as aws_clients
from nexus.email import Attachment, EmailSendError, EmailService, EmailTemplateError, render_template
from nexus.email import message as email_message
from nexus.errors import ValidationError
from nexus.services import ServiceNotInitializedError
from nexus.settings import EmailSettings

SENDER = "noreply@nexus.example.com"
SENDER_NAME = "Nexus"
ALICE = "alice@example.com"
EVIL_NAME = 'Eve <script>alert("x")</script> & co'


def sender(address: str = SENDER, name: str = SENDER_NAME, configuration_set: str = "") -> EmailSettings:
    """The email settings, as given: unchecked, so that what the service itself refuses shows."""
    return EmailSettings.model_construct(
        email_sender_address=address, email_sender_name=name, email_configuration_set=configuration_set
    )


class SesClient:
    """A real sesv2 client on moto that records each SendEmail request's parameters."""

    def __init__(self) -> None:
        self.client: Any = boto3.client("sesv2", region_name=REGION)
        self.requests: list[dict[str, Any]] = []
        self.client.meta.events.register("provide-client-params.sesv2.SendEmail", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(params)


@pytest.fixture
def ses(aws: LocalResources) -> SesClient:
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    return SesClient()


@pytest.fixture
def service(ses: SesClient) -> Iterator[EmailService]:
    email_service = EmailService(sender(), client=ses.client)
    email_service.initialize()
    yield email_service
    email_service.cleanup()


def sent() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def only_raw_message() -> tuple[RawMessage, EmailMessage]:
    messages = sent()
    assert len(messages) == 1
    raw = messages[0]
    assert isinstance(raw, RawMessage)
    parsed = email.message_from_bytes(raw.raw_data.encode(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return raw, parsed


def body_parts(parsed: EmailMessage) -> tuple[str, str]:
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    # Raw MIME travels with CRLF line ends; compare text with LF.
    return str(text.get_content()).replace("\r\n", "\n"), str(html.get_content()).replace("\r\n", "\n")


# Sending ---------------------------------------------------------------------------------


def test_welcome_email_is_sent_as_simple_content(service: EmailService, ses: SesClient) -> None:
    message_id = service.send_template_email(ALICE, "welcome", {"username": "alice", "full_name": EVIL_NAME})

    [message] = sent()
    assert isinstance(message, Message)
    assert message.id == message_id
    assert message.source == f"{SENDER_NAME} <{SENDER}>"
    assert message.destinations == {"ToAddresses": [ALICE]}
    assert message.subject == "Welcome to Nexus, alice!"
    # moto keeps the HTML body only: the script tag arrives escaped.
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in message.body
    assert "<script>" not in message.body
    # The text part, as sent: not escaped.
    [request] = ses.requests
    simple = request["Content"]["Simple"]
    assert simple["Subject"] == {"Data": "Welcome to Nexus, alice!", "Charset": "UTF-8"}
    assert f"Hello {EVIL_NAME}," in simple["Body"]["Text"]["Data"]
    assert simple["Body"]["Html"]["Data"] == message.body
    assert request["FromEmailAddress"] == f"{SENDER_NAME} <{SENDER}>"
    assert "ConfigurationSetName" not in request


def test_welcome_email_with_an_attachment_is_raw_mime(service: EmailService) -> None:
    content = bytes(range(256)) + b"\r\n.\r\nFrom: x\n"
    attachment = Attachment("report 2026.pdf", content, "application/pdf")

    message_id = service.send_template_email(
        [ALICE], "welcome", {"username": "alice", "full_name": EVIL_NAME}, attachments=[attachment]
    )

    raw, parsed = only_raw_message()
    assert raw.id == message_id
    assert parsed["From"] == f"{SENDER_NAME} <{SENDER}>"
    assert parsed["To"] == ALICE
    assert parsed["Subject"] == "Welcome to Nexus, alice!"
    assert parsed.get_content_type() == "multipart/mixed"
    [alternative, attached] = list(parsed.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in alternative.iter_parts()] == ["text/plain", "text/html"]
    text, html = body_parts(parsed)
    assert f"Hello {EVIL_NAME}," in text
    assert "Hello Eve &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co," in html
    assert "<script>" not in html
    assert attached.get_filename() == "report 2026.pdf"
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_content_disposition() == "attachment"
    assert attached.get_payload(decode=True) == content


def test_plain_email_with_attachments_and_no_html(service: EmailService) -> None:
    first = Attachment("notes.txt", "héllo\n".encode())
    second = Attachment("résumé.csv", b"a,b\r\n1,2\r\n", "text/csv")

    service.send_email(ALICE, "Your files — ünïcode", "See attached.", attachments=(first, second))

    _, parsed = only_raw_message()
    assert parsed["Subject"] == "Your files — ünïcode"
    parts = list(parsed.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "application/octet-stream", "text/csv"]
    assert parts[0].get_content().strip() == "See attached."
    assert [(part.get_filename(), part.get_payload(decode=True)) for part in parts[1:]] == [
        ("notes.txt", "héllo\n".encode()),
        ("résumé.csv", b"a,b\r\n1,2\r\n"),
    ]


def test_cc_is_in_headers_and_envelope_bcc_only_in_the_envelope(service: EmailService, ses: SesClient) -> None:
    service.send_email(
        ALICE,
        "Minutes",
        "text",
        html_body="<p>html</p>",
        cc=["carol@example.com"],
        bcc=["bob@example.com", "dave@example.org"],
        attachments=[Attachment("minutes.txt", b"minutes", "text/plain")],
    )

    raw, parsed = only_raw_message()
    assert ses.requests[0]["Destination"] == {
        "ToAddresses": [ALICE],
        "CcAddresses": ["carol@example.com"],
        "BccAddresses": ["bob@example.com", "dave@example.org"],
    }
    # moto adds the To and Cc headers to the envelope again, hence the set.
    assert set(raw.destinations) == {ALICE, "carol@example.com", "bob@example.com", "dave@example.org"}
    assert parsed["To"] == ALICE
    assert parsed["Cc"] == "carol@example.com"
    assert parsed["Bcc"] is None
    assert b"bob@example.com" not in raw.raw_data.encode()
    assert "dave@example.org" not in raw.raw_data
    assert body_parts(parsed) == ("text\n", "<p>html</p>\n")


def test_simple_email_with_cc_bcc_and_html(service: EmailService) -> None:
    service.send_email(
        [ALICE, "al@example.com"], "Hi", "text", html_body="<b>hi</b>", cc="carol@example.com", bcc="bob@example.com"
    )

    [message] = sent()
    assert isinstance(message, Message)
    assert message.destinations == {
        "ToAddresses": [ALICE, "al@example.com"],
        "CcAddresses": ["carol@example.com"],
        "BccAddresses": ["bob@example.com"],
    }
    assert message.body == "<b>hi</b>"


def test_fifty_recipients_are_fine(service: EmailService) -> None:
    to = [f"to{i}@example.com" for i in range(30)]
    cc = [f"cc{i}@example.com" for i in range(10)]
    bcc = [f"bcc{i}@example.com" for i in range(10)]

    service.send_email(to, "Many", "text", cc=cc, bcc=bcc)

    assert len(sent()) == 1


def test_fifty_one_recipients_are_refused_and_nothing_is_sent(service: EmailService, ses: SesClient) -> None:
    to = [f"to{i}@example.com" for i in range(30)]
    cc = [f"cc{i}@example.com" for i in range(10)]
    bcc = [f"bcc{i}@example.com" for i in range(11)]

    with pytest.raises(ValidationError) as raised:
        service.send_email(to, "Many", "text", cc=cc, bcc=bcc)

    assert [(d.field, d.reason) for d in raised.value.details] == [
        ("recipients", "at most 50 recipients across to, cc and bcc")
    ]
    assert sent() == []
    assert ses.requests == []


def test_configuration_set_is_sent(ses: SesClient) -> None:
    service = EmailService(sender(name="Nexus Team, Inc.", configuration_set="nexus-transactional"), client=ses.client)
    service.initialize()

    service.send_email(ALICE, "Hi", "text")

    [request] = ses.requests
    assert request["ConfigurationSetName"] == "nexus-transactional"
    assert request["FromEmailAddress"] == f'"Nexus Team, Inc." <{SENDER}>'
    assert len(sent()) == 1


def test_template_subject_can_be_overridden(service: EmailService, ses: SesClient) -> None:
    service.send_template_email(ALICE, "welcome", {"username": "alice", "full_name": "Alice"}, subject="Hello!")

    [message] = sent()
    assert message.subject == "Hello!"


# Header injection and other invalid input: refused before anything reaches SES -----------

INJECTIONS = ["x\r\nBcc: eve@evil.example", "x\nBcc: eve@evil.example", "x\rX: y", "tab\there", "nul\x00", "x\u2028y"]


@pytest.mark.parametrize("subject", INJECTIONS)
def test_control_characters_in_the_subject_are_refused(service: EmailService, ses: SesClient, subject: str) -> None:
    with pytest.raises(ValidationError) as raised:
        service.send_email(ALICE, subject, "text")

    assert [d.field for d in raised.value.details] == ["subject"]
    assert sent() == []
    assert ses.requests == []


@pytest.mark.parametrize("field", ["to", "cc", "bcc"])
@pytest.mark.parametrize(
    "address", [f"{ALICE}\r\nBcc: eve@evil.example", f"{ALICE}\n", f"\r\n{ALICE}", "alice\n@example.com"]
)
def test_control_characters_in_an_address_are_refused(
    service: EmailService, ses: SesClient, field: str, address: str
) -> None:
    recipients: dict[str, Any] = {"to": ["ok@example.com"], field: ["fine@example.com", address]}

    with pytest.raises(ValidationError) as raised:
        service.send_email(subject="Hi", body="text", **recipients)

    assert [(d.field, d.reason) for d in raised.value.details] == [
        (f"{field}[1]", "must not contain control characters or line breaks")
    ]
    assert sent() == []
    assert ses.requests == []


@pytest.mark.parametrize("filename", ["a\r\nContent-Type: text/html", "a\n.txt", "a\x7f.txt"])
def test_control_characters_in_a_filename_are_refused(service: EmailService, ses: SesClient, filename: str) -> None:
    with pytest.raises(ValidationError) as raised:
        service.send_email(ALICE, "Hi", "text", attachments=[Attachment(filename, b"x")])

    assert [d.field for d in raised.value.details] == ["attachments[0].filename"]
    assert sent() == []
    assert ses.requests == []


@pytest.mark.parametrize(
    ("name", "address", "field"),
    [
        ("Nexus\r\nBcc: eve@evil.example", SENDER, "sender_name"),
        ("Nexus\n", SENDER, "sender_name"),
        ("Nexus", f"{SENDER}\r\nBcc: eve@evil.example", "sender_address"),
        ("Nexus", "not-an-address", "sender_address"),
    ],
)
def test_a_bad_sender_is_refused_at_construction(ses: SesClient, name: str, address: str, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        EmailService(sender(address, name), client=ses.client)

    assert [d.field for d in raised.value.details] == [field]
    assert sent() == []


def test_a_header_injected_through_template_data_is_refused(service: EmailService, ses: SesClient) -> None:
    with pytest.raises(ValidationError) as raised:
        service.send_template_email(ALICE, "welcome", {"username": "a\r\nBcc: eve@evil.example", "full_name": "A"})

    assert [d.field for d in raised.value.details] == ["subject"]
    assert sent() == []
    assert ses.requests == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"to": []}, [("to", "must name at least one recipient")]),
        ({"to": ["not-an-address"]}, [("to[0]", "must be a valid email address")]),
        ({"to": ["a@localhost"]}, [("to[0]", "must be a valid email address")]),
        ({"to": ["Alice <alice@example.com>"]}, [("to[0]", "must be a valid email address")]),
        ({"to": [f"{'a' * 250}@example.com"]}, [("to[0]", "must be a valid email address")]),
        ({"to": [""]}, [("to[0]", "must not be blank")]),
        ({"to": [None]}, [("to[0]", "must be a string")]),
        ({"subject": "   "}, [("subject", "must not be blank")]),
        ({"body": b"bytes"}, [("body", "must be a string")]),
        ({"html_body": 3}, [("html_body", "must be a string")]),
        ({"attachments": ["x"]}, [("attachments[0]", "must be an Attachment")]),
        ({"attachments": [Attachment("", b"x")]}, [("attachments[0].filename", "must not be blank")]),
        ({"attachments": [Attachment("a", "str")]}, [("attachments[0].content", "must be bytes")]),  # type: ignore[arg-type]
        (
            {"attachments": [Attachment("a", b"x", "pdf")]},
            [("attachments[0].content_type", "must be a MIME type such as application/pdf")],
        ),
        (
            {"attachments": [Attachment("a", b"x", "text/plain\r\nX: y")]},
            [("attachments[0].content_type", "must be a MIME type such as application/pdf")],
        ),
        (
            {"attachments": [Attachment("a", b"x", "message/rfc822")]},
            [("attachments[0].content_type", "must not be a multipart or message type")],
        ),
    ],
)
def test_invalid_input_is_refused(
    service: EmailService, ses: SesClient, kwargs: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    arguments: dict[str, Any] = {"to": [ALICE], "subject": "Hi", "body": "text", **kwargs}

    with pytest.raises(ValidationError) as raised:
        service.send_email(**arguments)

    assert [(d.field, d.reason) for d in raised.value.details] == expected
    assert ses.requests == []


def test_every_broken_field_is_reported_at_once(service: EmailService) -> None:
    with pytest.raises(ValidationError) as raised:
        service.send_email(["bad"], "a\nb", "text", cc=["x\n"], attachments=[Attachment("f\n", b"")])

    assert [d.field for d in raised.value.details] == ["to[0]", "cc[0]", "subject", "attachments[0].filename"]


def test_a_message_over_the_size_limit_is_refused(
    service: EmailService, ses: SesClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(email_message, "MAX_MESSAGE_BYTES", 1000)

    with pytest.raises(ValidationError) as raised:
        service.send_email(ALICE, "Hi", "text", attachments=[Attachment("big.bin", b"x" * 1000)])

    assert [d.field for d in raised.value.details] == ["attachments"]
    assert ses.requests == []


# Templates ------------------------------------------------------------------------------


def test_a_missing_template_variable_is_an_error_and_nothing_is_sent(service: EmailService, ses: SesClient) -> None:
    with pytest.raises(EmailTemplateError, match="'full_name' is undefined") as raised:
        service.send_template_email(ALICE, "welcome", {"username": "alice"})

    assert raised.value.code == "email_template_error"
    assert raised.value.template_name == "welcome"
    assert sent() == []
    assert ses.requests == []


@pytest.mark.parametrize(
    "name", ["../welcome", "welcome/../welcome", "welcome/", "/etc/passwd", "Welcome", "", "a" * 65, "we lcome", "w.b"]
)
def test_unsafe_template_names_are_refused(service: EmailService, ses: SesClient, name: str) -> None:
    with pytest.raises(EmailTemplateError, match="invalid email template name"):
        service.send_template_email(ALICE, name, {"username": "a", "full_name": "b"})

    assert ses.requests == []


def test_an_unknown_template_is_an_error(service: EmailService, ses: SesClient) -> None:
    with pytest.raises(EmailTemplateError, match="unknown email template 'goodbye'"):
        service.send_template_email(ALICE, "goodbye", {})

    assert ses.requests == []


def test_render_template_is_pure(aws: LocalResources) -> None:
    rendered = render_template("welcome", {"username": "bob", "full_name": "Bob <b>"})

    assert rendered.subject == "Welcome to Nexus, bob!"
    assert "Hello Bob <b>," in rendered.text
    assert rendered.html is not None
    assert "Hello Bob &lt;b&gt;," in rendered.html
    assert sent() == []


def test_a_templates_dir_of_its_own(ses: SesClient, tmp_path: Path) -> None:
    (tmp_path / "note").mkdir()
    (tmp_path / "note" / "subject.txt").write_text("Note {{ n }}\n")
    (tmp_path / "note" / "body.txt").write_text("n = {{ n }}")
    service = EmailService(sender(), client=ses.client, templates_dir=tmp_path)
    service.initialize()

    service.send_template_email(ALICE, "note", {"n": 7})

    [request] = ses.requests
    assert request["Content"]["Simple"]["Subject"]["Data"] == "Note 7"
    assert request["Content"]["Simple"]["Body"] == {"Text": {"Data": "n = 7", "Charset": "UTF-8"}}


# SES failures ---------------------------------------------------------------------------


def test_an_unverified_sender_is_rejected_by_ses(ses: SesClient) -> None:
    service = EmailService(sender("someone@unverified.example", "X"), client=ses.client)
    service.initialize()

    with pytest.raises(EmailSendError) as raised:
        service.send_email(ALICE, "Hi", "text")

    assert raised.value.code == "email_send_failed"
    assert raised.value.ses_error_code == "MessageRejected"
    assert raised.value.retryable is False
    assert sent() == []


def test_an_unverified_sender_is_rejected_for_raw_email_too(ses: SesClient) -> None:
    service = EmailService(sender("someone@unverified.example", "X"), client=ses.client)
    service.initialize()

    with pytest.raises(EmailSendError) as raised:
        service.send_email(ALICE, "Hi", "text", attachments=[Attachment("a.txt", b"a")])

    assert raised.value.ses_error_code == "MessageRejected"
    assert sent() == []


@pytest.mark.parametrize(
    ("error_code", "status", "retryable"),
    [
        ("TooManyRequestsException", 429, True),
        ("Throttling", 400, True),
        ("AccountSendingPausedException", 400, False),
        ("MailFromDomainNotVerifiedException", 400, False),
    ],
)
def test_ses_errors_become_email_send_errors(ses: SesClient, error_code: str, status: int, retryable: bool) -> None:
    service = EmailService(sender(), client=ses.client)
    service.initialize()

    with Stubber(ses.client) as stubber:
        stubber.add_client_error("send_email", service_error_code=error_code, http_status_code=status)
        with pytest.raises(EmailSendError) as raised:
            service.send_email(ALICE, "Hi", "text")

    assert raised.value.ses_error_code == error_code
    assert raised.value.retryable is retryable
    assert error_code in str(raised.value)
    assert raised.value.message == "Email could not be sent"  # what an API response would show


def test_an_unreachable_ses_is_an_email_send_error(aws: LocalResources) -> None:
    class Unreachable:
        def send_email(self, **_: Any) -> dict[str, Any]:
            raise EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com")

    service = EmailService(sender(), client=Unreachable())
    service.initialize()

    with pytest.raises(EmailSendError) as raised:
        service.send_email(ALICE, "Hi", "text")

    assert raised.value.ses_error_code is None
    assert raised.value.retryable is True


# Lifecycle and logging ------------------------------------------------------------------


def test_use_before_initialize_raises(ses: SesClient) -> None:
    service = EmailService(sender(), client=ses.client)

    with pytest.raises(ServiceNotInitializedError):
        service.send_email(ALICE, "Hi", "text")
    with pytest.raises(ServiceNotInitializedError):
        service.send_template_email(ALICE, "welcome", {"username": "a", "full_name": "b"})
    with pytest.raises(ServiceNotInitializedError):
        _ = service.client
    assert ses.requests == []


def test_use_after_cleanup_raises(service: EmailService) -> None:
    service.cleanup()

    with pytest.raises(ServiceNotInitializedError):
        service.send_email(ALICE, "Hi", "text")


def test_without_a_client_it_sends_through_the_environments_one_client(aws: LocalResources) -> None:
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    service = EmailService(sender())
    service.initialize()
    client = service.client
    service.initialize()

    assert service.client is client
    assert client is aws_clients.client("sesv2")
    assert not client.built  # built at the first send, not by initialize()
    assert service.send_email(ALICE, "Hi", "text")
    assert client.built
    assert client.meta.service_model.service_name == "sesv2"
    # nexus.aws's configuration of a call after the sign-up's commit: 2 attempts in all.
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert len(sent()) == 1


def test_the_body_is_never_logged(service: EmailService, caplog: pytest.LogCaptureFixture) -> None:
    service.send_email(ALICE, "Subject-Marker", "Body-Marker-Text", html_body="<p>Body-Marker-Html</p>")
    with pytest.raises(ValidationError):
        service.send_email("bad", "Subject-Marker", "Body-Marker-Text")

    logs = " ".join(str(record.__dict__) for record in caplog.records)
    assert "email sent" in logs
    assert "'recipients': 1" in logs
    assert "Body-Marker" not in logs
    assert "Subject-Marker" not in logs
    assert ALICE not in logs
