"""Messages on the Redis channel every web process listens to (``cache.events_channel()``).

A message is one line of JSON (the header), optionally followed by a newline and a payload
that is passed on to SDKs as it is (a patch's JSON), so web processes never re-serialise it.

Types: ``patch`` (a new version, with the changed entries as payload, or without payload when
the change is too big to send as a patch), ``document`` (the copy of a version is in Redis),
``sdk_key_revoked`` (a digest that must stop working now).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PATCH = "patch"
DOCUMENT = "document"
SDK_KEY_REVOKED = "sdk_key_revoked"


@dataclass(frozen=True)
class Event:
    header: dict[str, Any]
    payload: bytes | None

    @property
    def type(self) -> str:
        return str(self.header.get("type", ""))


def encode(header: dict[str, Any], payload: bytes | None = None) -> bytes:
    line = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    return line if payload is None else line + b"\n" + payload


def decode(message: bytes) -> Event | None:
    """The event, or None for a message that is not one (never raises)."""
    line, separator, payload = message.partition(b"\n")
    try:
        header = json.loads(line)
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    return Event(header, payload if separator else None)


def patch_event(environment_uid: str, previous_version: int, version: int, etag: str, payload: bytes | None) -> bytes:
    header = {
        "type": PATCH,
        "environment": environment_uid,
        "previous_version": previous_version,
        "version": version,
        "etag": etag,
    }
    return encode(header, payload)


def document_event(environment_uid: str, version: int, etag: str) -> bytes:
    return encode({"type": DOCUMENT, "environment": environment_uid, "version": version, "etag": etag})


def sdk_key_revoked_event(digest: str) -> bytes:
    return encode({"type": SDK_KEY_REVOKED, "digest": digest})
