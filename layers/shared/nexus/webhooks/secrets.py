"""The webhook signing secrets, parsed from the SSM parameter: one per subscriber URL, or a list of
two (new, old) while one is rotated; a plain string (the layout before) is one secret for every
subscriber, still read. The format and the rotation: docs/DEPLOY.md, "2. One-off set-up in the account".

docs/decisions.md, "The outside review's findings (issue 25): what changed, and one finding declined".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from nexus.errors import ConfigurationError
from nexus.observability import logger

Secrets = tuple[bytes, ...]
SHARED = "*"  # the key under which a plain-string parameter's one secret is kept


def parse_secrets(text: str) -> dict[str, Secrets]:
    """Subscriber URL -> its secrets (newest first); ``SHARED`` for the plain-string layout."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        if not stripped:
            raise ConfigurationError("the webhook secret parameter is empty")
        return {SHARED: (stripped.encode(),)}
    try:
        document = json.loads(stripped)
    except ValueError:
        raise ConfigurationError("the webhook secret parameter is not valid JSON") from None
    secrets: dict[str, Secrets] = {}
    for url, value in document.items():
        values = [value] if isinstance(value, str) else value
        if not (isinstance(values, list) and 1 <= len(values) <= 2 and all(isinstance(v, str) and v for v in values)):
            raise ConfigurationError(
                f"the webhook secret of {url!r} must be a non-empty string, or a list of two (new, old)"
            )
        secrets[url] = tuple(v.encode() for v in values)
    return secrets


def secrets_of(secrets: Mapping[str, Secrets], url: str) -> Secrets:
    """The secrets that sign what ``url`` receives; () when it has none (nothing is sent to it)."""
    return secrets.get(url) or secrets.get(SHARED, ())


def parameter_secrets(parameter: str) -> Callable[[], dict[str, Secrets]]:
    """The secrets in SSM parameter ``parameter``, read through Powertools' parameters when
    asked and cached for 5 minutes per environment, so a rotated secret is picked up soon."""
    from aws_lambda_powertools.utilities import parameters

    def read() -> dict[str, Secrets]:
        text = str(parameters.get_parameter(parameter, decrypt=True, max_age=300))
        found = parse_secrets(text)
        if SHARED in found:
            logger.warning("one webhook secret for every subscriber: any of them can sign events the others accept")
        return found

    return read
