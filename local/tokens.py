"""JWTs for the local authorizer: decoded without verifying the signature, so that a token from any
issuer works against `make start` (API Gateway verifies them in AWS; docs/API.md, "Local runner")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from local.template import LOCAL_AUDIENCE, LOCAL_ISSUER

ALL_SCOPES = "users:read users:write analytics:read analytics:write"
# Anyone may sign with this: the local authorizer never checks signatures, API Gateway does.
LOCAL_SIGNING_KEY = b"nexus-local-not-a-secret"


class InvalidToken(ValueError):
    """The Authorization header does not carry a readable, unexpired JWT."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(
    scope: str = ALL_SCOPES, *, subject: str = "local-developer", lifetime: int = 12 * 3600, **claims: Any
) -> str:
    """An HS256 JWT with the template's default issuer and audience."""
    now = int(time.time())
    payload = {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": subject,
        "iat": now,
        "exp": now + lifetime,
        "scope": scope,
        **claims,
    }
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(LOCAL_SIGNING_KEY, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64url(signature)}"


def bearer_claims(authorization: str | None, *, now: float | None = None) -> dict[str, Any]:
    """The claims of ``Authorization: Bearer <JWT>``; InvalidToken when missing, malformed or expired."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("no bearer token")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise InvalidToken("not a JWT")
    try:
        header = json.loads(_unb64url(parts[0]))
        claims = json.loads(_unb64url(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("not a JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("not a JWT")
    expires = claims.get("exp")
    if isinstance(expires, int | float) and expires < (now if now is not None else time.time()):
        raise InvalidToken("expired")
    return claims
