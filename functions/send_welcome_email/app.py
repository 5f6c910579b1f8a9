"""Welcome-email queue trigger: retry welcome emails that failed at sign-up, never twice."""

from nexus.entrypoints import event_entrypoint
from nexus.operations.welcome_retries import WelcomeRetries

handler = event_entrypoint(WelcomeRetries)
