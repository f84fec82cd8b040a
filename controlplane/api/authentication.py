"""Bearer authentication: API tokens for people/automation, SDK keys for SDKs."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from controlplane.accounts.services import authenticate_api_token
from controlplane.api.throttling import count_failure, refuse_while_failing
from controlplane.projects import sdk_keys
from controlplane.secrets import API_TOKEN_PREFIX, SDK_SERVER_KEY_PREFIX


def bearer(request: Request) -> str | None:
    header = authentication.get_authorization_header(request).decode(errors="replace")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer fp_api_…``: the token's user, with the token's scope."""

    def authenticate(self, request: Request):
        credentials = bearer(request)
        if credentials is None or not credentials.startswith(API_TOKEN_PREFIX):
            return None
        refuse_while_failing(request)
        token = authenticate_api_token(credentials)
        if token is None:
            count_failure(request)
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="flagplane"'


class SdkKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer fp_srv_…``: an SDK reading or reporting for one environment."""

    def authenticate(self, request: Request):
        credentials = bearer(request)
        if credentials is None:
            return None
        if not credentials.startswith(SDK_SERVER_KEY_PREFIX):
            raise exceptions.AuthenticationFailed("This endpoint takes a server-side SDK key (fp_srv_…).")
        refuse_while_failing(request)
        sdk_key = sdk_keys.authenticate(credentials)
        if sdk_key is None:
            count_failure(request)
            raise exceptions.AuthenticationFailed("Invalid or revoked SDK key.")
        return AnonymousUser(), sdk_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="flagplane-sdk"'
