"""Scopes from the HTTP API's JWT authorizer (API.md, "Auth")."""

from __future__ import annotations

from typing import Any

from nexus.errors import ForbiddenError, UnauthorizedError

USERS_READ = "users:read"
USERS_WRITE = "users:write"
ANALYTICS_READ = "analytics:read"
ANALYTICS_WRITE = "analytics:write"


def _split(value: Any) -> set[str]:
    # API Gateway passes a list claim flattened to a string such as "[a b]".
    if isinstance(value, str):
        return set(value.strip("[]").replace(",", " ").split())
    if isinstance(value, list):
        return {str(item) for item in value}
    return set()


def granted_scopes(event: dict[str, Any]) -> set[str] | None:
    """The token's scopes, or None when the request carries no verified JWT."""
    jwt = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt")
    if not isinstance(jwt, dict) or not isinstance(jwt.get("claims"), dict):
        return None
    claims = jwt["claims"]
    return _split(claims.get("scope")) | _split(claims.get("scopes")) | _split(jwt.get("scopes"))


def require_scope(event: dict[str, Any], scope: str) -> None:
    scopes = granted_scopes(event)
    if scopes is None:
        raise UnauthorizedError("Missing or invalid bearer token")
    if scope not in scopes:
        raise ForbiddenError(f"Token lacks the {scope!r} scope")
