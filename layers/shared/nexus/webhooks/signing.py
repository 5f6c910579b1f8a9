"""HMAC-SHA256 signatures over timestamp and body, as receivers verify them.

Header: ``Nexus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
Signing the timestamp lets a receiver refuse replays older than its tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "Nexus-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, timestamp: int, body: bytes, *older: bytes) -> str:
    """The header value; with ``older`` secrets (a rotation), one ``v1`` per secret, newest first."""
    return ",".join([f"t={timestamp}", *(f"v1={_digest(s, timestamp, body)}" for s in (secret, *older))])


def verify(
    secret: bytes, header: str, body: bytes, *, now: int, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within the tolerance; False for any
    other header, malformed ones included (non-ASCII, a timestamp not of ASCII digits, a
    signature not of 64 hex digits): a receiver's check never raises on what a sender sent."""
    if not header.isascii():
        return False
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for name, value in fields if name == "t"]
    signatures = [value for name, value in fields if name == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
        return False
    if not all(_HEX_SIGNATURE.fullmatch(signature) for signature in signatures):
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = _digest(secret, timestamp, body).encode()
    # Any v1 may be the receiver's: during a rotation the sender signs with the new and the old.
    return any(hmac.compare_digest(signature.encode(), expected) for signature in signatures)
