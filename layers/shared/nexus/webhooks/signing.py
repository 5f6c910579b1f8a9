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


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(
    secret: bytes, header: str, body: bytes, *, now: int, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within the tolerance; False for any
    other header, malformed ones included (non-ASCII, a timestamp not of ASCII digits, a
    signature not of 64 hex digits): a receiver's check never raises on what a sender sent."""
    if not header.isascii():
        return False
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    stamp, signature = fields.get("t", ""), fields.get("v1", "")
    if not (stamp.isdigit() and _HEX_SIGNATURE.fullmatch(signature)):
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature.encode(), _digest(secret, timestamp, body).encode())
