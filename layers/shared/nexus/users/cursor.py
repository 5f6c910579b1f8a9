"""Opaque, tamper-proof list cursors.

A cursor is ``base64url(payload).base64url(HMAC-SHA256(key, payload))`` where the
payload names the last user returned and a digest of the filters it was made for,
so a forged cursor, or one reused with other filters, is refused with a 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable

from nexus.errors import BadRequestError, ConfigurationError
from nexus.secrets import CachedSecret
from nexus.services import inject
from nexus.settings import CursorSettings
from nexus.users.schemas import ULID_PATTERN, UserFilters

_VERSION = 1
# Real cursors are ~150 characters; anything far longer is refused before decoding.
_MAX_CURSOR_LENGTH = 1024


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def filters_digest(filters: UserFilters) -> str:
    return hashlib.sha256(filters.fingerprint().encode()).hexdigest()[:16]


def signing_key(secret_id: str) -> Callable[[], bytes]:
    """The key in Secrets Manager secret ``secret_id``, read when a page first signs or checks a
    cursor: a first page that needs none (and every cached page) makes no Secrets Manager call."""
    secret = CachedSecret(secret_id)

    def key() -> bytes:
        value = secret.get()
        if len(value) < 32:
            raise ConfigurationError(f"the cursor signing secret {secret.secret_id} is shorter than 32 characters")
        return value.encode()

    return key


class CursorCodec:
    """Signs with the secret ``settings`` name (``signing_key``); ``key``: the HMAC key, or a
    function returning it, instead (tests)."""

    def __init__(self, settings: CursorSettings = inject(), *, key: bytes | Callable[[], bytes] | None = None) -> None:
        self._key = key if key is not None else signing_key(settings.cursor_signing_secret_arn)

    def __repr__(self) -> str:
        return "CursorCodec(<key>)"

    def _sign(self, payload: bytes) -> bytes:
        key = self._key if isinstance(self._key, bytes) else self._key()
        return hmac.new(key, payload, hashlib.sha256).digest()

    def encode(self, last_id: str, filters: UserFilters) -> str:
        payload = json.dumps({"v": _VERSION, "after": last_id, "f": filters_digest(filters)}, separators=(",", ":"))
        raw = payload.encode()
        return f"{_b64encode(raw)}.{_b64encode(self._sign(raw))}"

    def decode(self, cursor: str, filters: UserFilters) -> str:
        """Return the id to continue after, or raise ``BadRequestError``."""
        if len(cursor) > _MAX_CURSOR_LENGTH:
            raise BadRequestError("Invalid cursor")
        try:
            payload_part, signature_part = cursor.split(".")
            raw = _b64decode(payload_part)
            signature = _b64decode(signature_part)
        except (ValueError, binascii.Error):
            raise BadRequestError("Invalid cursor") from None
        if not hmac.compare_digest(signature, self._sign(raw)):
            raise BadRequestError("Invalid cursor")
        payload = json.loads(raw)
        if payload.get("v") != _VERSION or not ULID_PATTERN.fullmatch(str(payload.get("after", ""))):
            raise BadRequestError("Invalid cursor")
        if payload.get("f") != filters_digest(filters):
            raise BadRequestError("Cursor belongs to other filters")
        return str(payload["after"])
