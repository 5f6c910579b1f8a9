"""EmailService: send plain, HTML, templated and attachment-carrying email through SES v2.

Logs and metrics carry counts and lengths, never a body or an address list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from nexus import aws
from nexus.email.errors import RETRYABLE_SES_ERROR_CODES, EmailSendError
from nexus.email.message import Attachment, OutgoingEmail, format_sender
from nexus.email.rendering import DEFAULT_TEMPLATES_DIR, render_template
from nexus.observability import logger, metrics
from nexus.services import Service, inject
from nexus.settings import EmailSettings


class EmailService(Service):
    """Sends as ``settings``' sender, through the environment's sesv2 client (or ``client``);
    botocore retries throttling and transient errors itself, what still fails raises."""

    def __init__(
        self,
        settings: EmailSettings = inject(),
        *,
        client: Any | None = None,
        templates_dir: Path = DEFAULT_TEMPLATES_DIR,
    ) -> None:
        super().__init__()
        # Raises ValidationError (the settings check both; a test may construct them unchecked).
        self.from_address = format_sender(settings.email_sender_name, settings.email_sender_address)
        self.configuration_set = settings.email_configuration_set or None
        self.templates_dir = templates_dir
        self._given_client = client
        self._client: Any | None = None

    def _setup(self) -> None:
        # nexus.aws's client is built at the first send, not here.
        self._client = self._given_client if self._given_client is not None else aws.client("sesv2")

    def _teardown(self) -> None:
        self._client = None

    @property
    def client(self) -> Any:
        """The sesv2 client (the environment's, or the one given)."""
        return self._client

    def send_email(
        self,
        to: str | Sequence[str],
        subject: str,
        body: str,
        html_body: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        attachments: Sequence[Attachment] | None = None,
    ) -> str:
        """Send one email; returns SES's MessageId.

        Raises ValidationError (nothing sent) for a bad address, more than 50 recipients, or a
        control character in a header value, and EmailSendError when SES does not accept it.
        """
        message = OutgoingEmail.create(
            from_address=self.from_address,
            to=to,
            subject=subject,
            text=body,
            html=html_body,
            cc=cc,
            bcc=bcc,
            attachments=attachments,
        )
        return self._send(message, template_name=None)

    def send_template_email(
        self,
        to: str | Sequence[str],
        template_name: str,
        template_data: Mapping[str, Any],
        subject: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        attachments: Sequence[Attachment] | None = None,
    ) -> str:
        """Render template ``template_name`` (``subject`` overrides its subject.txt) and send it.

        Raises EmailTemplateError (nothing sent) when the template is unknown, unsafe or lacks
        data, plus everything ``send_email`` raises.
        """
        rendered = render_template(template_name, template_data, templates_dir=self.templates_dir)
        message = OutgoingEmail.create(
            from_address=self.from_address,
            to=to,
            subject=rendered.subject if subject is None else subject,
            text=rendered.text,
            html=rendered.html,
            cc=cc,
            bcc=bcc,
            attachments=attachments,
        )
        return self._send(message, template_name=template_name)

    def _send(self, message: OutgoingEmail, *, template_name: str | None) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self.from_address,
            "Destination": message.destination(),
            "Content": message.content(),
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        facts: dict[str, Any] = {
            "recipients": message.recipient_count,
            "subject_length": len(message.subject),
            "attachments": len(message.attachments),
            "template": template_name,
        }
        try:
            response = self.client.send_email(**request)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            self._failed(facts, code)
            raise EmailSendError(
                f"SES did not accept the email: {code}",
                ses_error_code=code,
                retryable=code in RETRYABLE_SES_ERROR_CODES,
            ) from exc
        except BotoCoreError as exc:
            self._failed(facts, type(exc).__name__)
            raise EmailSendError("SES could not be reached", ses_error_code=None, retryable=True) from exc
        message_id = str(response["MessageId"])
        logger.info("email sent", message_id=message_id, **facts)
        metrics.add_metric(name="EmailsSent", unit=MetricUnit.Count, value=1)
        return message_id

    @staticmethod
    def _failed(facts: Mapping[str, Any], error: str) -> None:
        logger.warning("email send failed", error=error, **facts)
        metrics.add_metric(name="EmailSendErrors", unit=MetricUnit.Count, value=1)
