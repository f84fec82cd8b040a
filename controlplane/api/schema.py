"""How the API appears in its OpenAPI schema (Swagger UI at /api/docs/): the Bearer schemes, the
tag and summary of every operation, and the error responses every operation can give."""

from collections.abc import Callable

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, extend_schema_view

# The schema's tags, in the order Swagger UI lists them: one per domain. Every operation has one
# (tests/api/test_schema_operations.py); ``documented`` below gives each view its tag.
TAGS = [
    {"name": "projects", "description": "Projects: the top of everything else."},
    {"name": "environments", "description": "A project's environments (development, production, …)."},
    {"name": "sdk-keys", "description": "Server-side SDK keys (`fp_srv_…`) and client-side keys (`fp_cli_…`) "
     "of an environment: issued once, revoked for good. SDKs read their document from `GET /api/v1/sdk/config` "
     "and `/api/v1/sdk/stream`, served by the edge in front of this API (docs/sdk-document.md, docs/streaming.md)."},
    {"name": "flags", "description": "Flags, their targeting in each environment (ETag / If-Match), the kill "
     "switch and previews."},
    {"name": "segments", "description": "Reusable groups of users that targeting rules refer to."},
    {"name": "rollouts", "description": "Rollout plans: stages, health rules, the actions people take and the "
     "engine's decisions (docs/rollout-decisions.md)."},
    {"name": "metrics", "description": "Health signals SDKs report with their SDK key (docs/metrics.md)."},
    {"name": "audit", "description": "The audit log: every change, who made it and why. Read-only."},
    {"name": "webhooks", "description": "Signed calls to your endpoints when a rollout changes, and their "
     "deliveries (docs/webhooks.md)."},
]  # fmt: skip


def documented(tag: str, one: str = "", many: str = "", **summaries: str) -> Callable[[type], type]:
    """Class decorator: every operation of the view under ``tag``, with a summary. The standard
    actions a view has are summarised from ``one`` and ``many`` ("Get a flag", "List flags");
    ``summaries`` names the others (a method or an action: ``get="…"``, ``preview="…"``) or says
    better (``destroy="Archive a flag"``)."""
    standard = {
        "list": f"List {many}",
        "create": f"Create {one}",
        "retrieve": f"Get {one}",
        "update": f"Replace {one}",
        "partial_update": f"Change fields of {one}",
        "destroy": f"Delete {one}",
    }

    def decorate(view: type) -> type:
        wanted = {name: text for name, text in standard.items() if one and hasattr(view, name)} | summaries
        extend_schema_view(**{name: extend_schema(summary=text) for name, text in wanted.items()})(view)
        return extend_schema(tags=[tag])(view)

    return decorate


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "controlplane.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token: `Bearer fp_api_…`."}


class SdkKeyScheme(OpenApiAuthenticationExtension):
    target_class = "controlplane.api.authentication.SdkKeyAuthentication"
    name = "sdkKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A server-side SDK key: `Bearer fp_srv_…`."}


ERROR_SCHEMA = {
    "type": "object",
    "description": "Every API error: a message and a code; a 400 about fields adds one key per field path "
    "with its messages, a 412 adds current_version.",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail", "code"],
    "additionalProperties": True,
}
ERRORS = {
    "400": "The request is invalid (the body names each field's problem); nothing was saved.",
    "401": "No credentials, or a wrong, revoked or expired token or SDK key.",
    "403": "Credentials that may not do this (a role, a token's scope or project).",
    "404": "No such object, or a project the caller has no role in.",
    "409": "Valid, but the object's current state refuses it (or a change made at the same time).",
    "412": "If-Match names an older version than the stored one.",
    "413": "The body is larger than API_MAX_BODY_BYTES.",
    "429": "Too many requests, or too many wrong credentials from this address; see Retry-After.",
    "500": "A fault on our side; nothing was saved.",
}
WRITES = {"post", "put", "patch", "delete"}


def add_error_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: the error responses every operation can give."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            statuses = ["400", "401", "403", "404", "429", "500"]
            if method in WRITES:
                statuses += ["409", "413"]
            if method in ("put", "patch") and "{environment_key}" in path and "/flags/" in path:
                statuses.append("412")
            responses = operation.setdefault("responses", {})
            for code in statuses:
                responses.setdefault(
                    code,
                    {
                        "description": ERRORS[code],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result


def add_tags(result, generator, request, public):
    """drf-spectacular post-processing hook: the tags, described and in order."""
    result["tags"] = TAGS
    return result
