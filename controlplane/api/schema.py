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
