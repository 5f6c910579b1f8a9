"""EmailService: SES v2 email, plain, HTML, templated (Jinja2 files in the layer) and with attachments."""

from nexus.email.errors import EmailSendError, EmailTemplateError
from nexus.email.message import MAX_RECIPIENTS, Attachment
from nexus.email.rendering import DEFAULT_TEMPLATES_DIR, RenderedEmail, render_template
from nexus.email.service import EmailService

__all__ = [
    "DEFAULT_TEMPLATES_DIR",
    "MAX_RECIPIENTS",
    "Attachment",
    "EmailSendError",
    "EmailService",
    "EmailTemplateError",
    "RenderedEmail",
    "render_template",
]
