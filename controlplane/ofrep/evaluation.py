"""OFREP evaluation as plain functions over a compiled ``flagplane.engine.Snapshot``.

The shapes are the OFREP OpenAPI document's (open-feature/protocol, ``service/openapi.yaml``):
``evaluationSuccess`` (key, value, reason, variant, metadata), ``evaluationFailure`` and
``flagNotFound`` (key, errorCode, errorDetails), ``bulkEvaluationSuccess`` ({"flags": [...]}) and
``bulkEvaluationFailure``. Values, reasons and error codes come from ``flagplane.resolution``, the
mapping the Python OpenFeature provider uses too. A disabled flag answers like OFREP's
``codeDefaultFlag``: reason DISABLED and no ``value`` (nor ``variant``), so providers return the
caller's default. No Django here: the views (and an ASGI edge later) call these functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from controlplane.ofrep.errors import BadRequest
from flagplane import resolution
from flagplane.engine import CompiledFlag, Snapshot

PARSE_ERROR = "PARSE_ERROR"
# A request body is an evaluation context, a few KB; client-side keys are public, so the views
# read at most one byte more than this of a body, whatever its Content-Length says.
MAX_BODY_BYTES = 64 * 1024
MIN_POLLING_INTERVAL_MS = 1000


class Answer(NamedTuple):
    status: int
    body: dict[str, Any]


def parse_context(raw: bytes) -> dict[str, Any]:
    """The evaluation context of a request body ``{"context": {...}}`` in Flagplane form
    (``targetingKey`` becomes ``key``). An empty body is an empty context."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(resolution.INVALID_CONTEXT, f"the request body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(PARSE_ERROR, f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(PARSE_ERROR, 'the request body is a JSON object like {"context": {...}}')
    context = body.get("context", {})
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise BadRequest(resolution.INVALID_CONTEXT, "context must be a JSON object")
    out = {name: value for name, value in context.items() if name != "targetingKey"}
    targeting_key = context.get("targetingKey")
    if targeting_key is not None:
        if not isinstance(targeting_key, str):
            raise BadRequest(resolution.INVALID_CONTEXT, "targetingKey must be a string")
        out["key"] = targeting_key
    return out


def visible(flag: CompiledFlag, client_side_only: bool) -> bool:
    return flag.client_side or not client_side_only


def _failure(key: str, code: str, details: str) -> dict[str, Any]:
    return {"key": key, "errorCode": code, "errorDetails": details}


def _evaluated(flag: CompiledFlag, context: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
    """(succeeded, evaluationSuccess or evaluationFailure) for one visible flag."""
    result = resolution.resolve_flag(flag, context)
    if result.error_code is not None:
        return False, _failure(flag.key, result.error_code, result.error_message or "")
    body: dict[str, Any] = {"key": flag.key, "reason": result.reason, "metadata": dict(result.metadata)}
    if result.variant is not None:
        body["value"] = result.value
        body["variant"] = result.variant
    return True, body


def evaluate_flag(snapshot: Snapshot, key: str, context: Mapping[str, Any], client_side_only: bool) -> Answer:
    """``POST /ofrep/v1/evaluate/flags/{key}``: 200, 400 (context) or 404 (flag not found)."""
    flag = snapshot.flags.get(key)
    if flag is None or not visible(flag, client_side_only):
        return Answer(404, _failure(key, resolution.FLAG_NOT_FOUND, f"no flag {key!r} for this key"))
    ok, body = _evaluated(flag, context)
    return Answer(200 if ok else 400, body)


def evaluate_all(snapshot: Snapshot, context: Mapping[str, Any], client_side_only: bool) -> dict[str, Any]:
    """``POST /ofrep/v1/evaluate/flags``: every flag the key may see, in key order; a flag that
    cannot be evaluated for this context is an evaluationFailure item, not a failed request."""
    flags = [
        _evaluated(flag, context)[1] for key, flag in sorted(snapshot.flags.items()) if visible(flag, client_side_only)
    ]
    return {"flags": flags}


def bulk_etag(snapshot: Snapshot, context: Mapping[str, Any], client_side_only: bool) -> str:
    """The bulk answer's ETag, computed without evaluating: evaluation is a pure function of the
    document version, the context and the key's visibility, so a matching If-None-Match is a 304
    at the cost of one hash."""
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.blake2b(canonical.encode(), digest_size=12).hexdigest()
    scope = "c" if client_side_only else "a"
    return f'"{snapshot.project}/{snapshot.environment}/{snapshot.version}{scope}-{digest}"'


def configuration() -> dict[str, Any]:
    """``GET /ofrep/v1/configuration``: what providers may rely on."""
    return {
        "name": "Flagplane",
        "capabilities": {
            "cacheInvalidation": {"polling": {"enabled": True, "minPollingIntervalMs": MIN_POLLING_INTERVAL_MS}},
            "flagEvaluation": {"supportedTypes": ["int", "float", "string", "boolean", "object"]},
        },
    }


def configuration_etag() -> str:
    body = json.dumps(configuration(), sort_keys=True, separators=(",", ":"))
    return f'"{hashlib.blake2b(body.encode(), digest_size=12).hexdigest()}"'
