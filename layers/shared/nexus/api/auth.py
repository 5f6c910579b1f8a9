"""Scopes from the HTTP API's JWT authorizer (API.md, "Auth")."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nexus.errors import ConfigurationError, ForbiddenError, UnauthorizedError
from nexus.scopes import ANALYTICS_READ, ANALYTICS_WRITE, USERS_READ, USERS_WRITE

__all__ = [
    "ANALYTICS_READ",
    "ANALYTICS_WRITE",
    "BEARER_SCHEME",
    "USERS_READ",
    "USERS_WRITE",
    "Caller",
    "require_scope",
    "scope_prefix",
    "verified_caller",
]

# The OpenAPI document's name for the JWT bearer scheme of the HTTP API's authorizer.
BEARER_SCHEME = "bearerAuth"

# Some identity providers name custom scopes "<resource server>/<scope>" (Cognito:
# "nexus/users:read"); JWT_SCOPE_PREFIX ("nexus/") is then what precedes API.md's names.
# Cognito's identifiers may be URLs ("https://api.example.com/users:read").
_SCOPE_PREFIX = re.compile(r"[!-~]*[!-.0-~][!-~]*/")


def scope_prefix(environ: Mapping[str, str] | None = None) -> str:
    """JWT_SCOPE_PREFIX, checked at cold start: empty, or a resource server's name and "/"."""
    value = (os.environ if environ is None else environ).get("JWT_SCOPE_PREFIX", "")
    if value and not _SCOPE_PREFIX.fullmatch(value):
        raise ConfigurationError(
            f"invalid environment: JWT_SCOPE_PREFIX: {value!r} must be empty or a name ending in '/'"
        )
    return value


def _split(value: Any) -> set[str]:
    # API Gateway passes a list claim flattened to a string such as "[a b]".
    if isinstance(value, str):
        return set(value.strip("[]").replace(",", " ").split())
    if isinstance(value, list):
        return {str(item) for item in value}
    return set()


def _verified_jwt(event: dict[str, Any]) -> dict[str, Any] | None:
    """The JWT authorizer's ``{"claims": {...}, "scopes": ...}``, or None without a verified token."""
    jwt = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt")
    if not isinstance(jwt, dict) or not isinstance(jwt.get("claims"), dict):
        return None
    return jwt


@dataclass(frozen=True)
class Caller:
    """Who sent the request: the verified token's ``sub`` claim ("" without one) and its scopes."""

    subject: str
    scopes: frozenset[str]


def verified_caller(event: dict[str, Any]) -> Caller | None:
    """The caller the JWT authorizer verified, or None when the request carries no verified token."""
    jwt = _verified_jwt(event)
    if jwt is None:
        return None
    claims = jwt["claims"]
    subject = claims.get("sub")
    scopes = _split(claims.get("scope")) | _split(claims.get("scopes")) | _split(jwt.get("scopes"))
    return Caller(subject if isinstance(subject, str) else "", frozenset(scopes))


def require_scope(caller: Caller | None, scope: str, prefix: str = "") -> Caller:
    """The caller, when its token grants ``prefix + scope`` exactly; else 401 (no token) or 403."""
    if caller is None:
        raise UnauthorizedError("Missing or invalid bearer token")
    if prefix + scope not in caller.scopes:
        raise ForbiddenError(f"Token lacks the {prefix + scope!r} scope")
    return caller
