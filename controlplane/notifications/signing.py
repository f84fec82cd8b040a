"""Webhook signatures: ``sha256=`` + hex HMAC-SHA256(secret, f"{timestamp}.{body}").

The timestamp is signed with the body so a captured request cannot be replayed later: a receiver
rejects timestamps older than a few minutes. ``verify`` is what a Python receiver can copy.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"
SIGNATURE_PREFIX = "sha256="


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The X-Flagplane-Signature header value for this body sent at this timestamp."""
    message = f"{timestamp}.".encode() + _as_bytes(body)
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature: str,
    tolerance_s: float = 300,
    *,
    now: float | None = None,
) -> bool:
    """True if ``signature`` signs exactly this body and timestamp, and the timestamp is recent.

    ``body`` must be the raw request body, byte for byte (not re-serialised JSON).
    """
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    if not isinstance(signature, str) or not signature.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature)
