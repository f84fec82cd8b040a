"""Tell drf-spectacular how our Bearer authenticators appear in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
