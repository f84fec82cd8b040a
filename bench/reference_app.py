"""The peer of ``GET /api/v1/sdk/config`` answering 304 in bench/serving.py: a raw ASGI app, no
framework, doing the same work for each request and nothing else.

For each request: the bearer key's SHA-256 digest, looked up in a dict (filled once per digest
from the product's Redis hash of SDK keys, ``<prefix>:sdk_keys``); the environment's current
ETag, compared with If-None-Match; 304 with the product's headers. ``REFERENCE_ETAG`` says where
the ETag comes from: ``memory`` (the default: read once from the Redis copy of the document and
kept, as the edge keeps its served document) or ``redis`` (one HGET per request).

Run it like the product's web role: ``uvicorn bench.reference_app:application --workers 2 ...``
with ``REDIS_URL`` and ``REDIS_PREFIX`` set.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import redis.asyncio as aioredis

PREFIX = os.environ.get("REDIS_PREFIX", "flagplane")
ETAG_FROM_REDIS = os.environ.get("REFERENCE_ETAG", "memory") == "redis"

_redis: aioredis.Redis | None = None
_environments: dict[str, str] = {}  # key digest -> environment uid
_etags: dict[str, bytes] = {}  # environment uid -> ETag


def _client() -> aioredis.Redis:
    global _redis
    if _redis is None:
        _redis = aioredis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return _redis


async def _respond(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _environment(digest: str) -> str | None:
    uid = _environments.get(digest)
    if uid is None:
        raw = await _client().hget(f"{PREFIX}:sdk_keys", digest)
        if raw is None or raw == b"revoked":
            return None
        uid = _environments[digest] = json.loads(raw)["environment_uid"]
    return uid


async def _etag(uid: str) -> bytes | None:
    etag = None if ETAG_FROM_REDIS else _etags.get(uid)
    if etag is None:
        etag = await _client().hget(f"{PREFIX}:doc:{uid}", "etag")
        if etag is not None:
            _etags[uid] = etag
    return etag


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] != "/api/v1/sdk/config":
        await _respond(send, 404, [])
        return
    authorization = if_none_match = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name == b"if-none-match":
            if_none_match = value
    scheme, _, key = (authorization or b"").partition(b" ")
    uid = await _environment(hashlib.sha256(key.strip()).hexdigest()) if scheme.lower() == b"bearer" else None
    if uid is None:
        await _respond(send, 401, [])
        return
    etag = await _etag(uid)
    if etag is None:
        await _respond(send, 503, [(b"retry-after", b"1")])
        return
    headers = [(b"etag", etag), (b"cache-control", b"no-cache"), (b"vary", b"Accept-Encoding")]
    if if_none_match is not None and etag in (candidate.strip() for candidate in if_none_match.split(b",")):
        await _respond(send, 304, headers)
    else:  # the body is not this peer's business: only 304s are compared
        await _respond(send, 200, headers)
