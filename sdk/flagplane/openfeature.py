"""OpenFeature provider backed by a Flagplane client (``pip install flagplane[openfeature]``).

    from openfeature import api
    from flagplane.openfeature import FlagplaneProvider

    api.set_provider(FlagplaneProvider(sdk_key="...", base_url="https://flags.example.com"))
    client = api.get_client()
    client.get_boolean_value("new-checkout", False, EvaluationContext("user-42", {"plan": "pro"}))

The OpenFeature ``targeting_key`` becomes the context ``key``; attributes are passed through
(datetimes become ISO 8601 strings for the date operators). Reasons map as: OFF -> DISABLED,
TARGET/RULE_MATCH -> TARGETING_MATCH, SPLIT -> SPLIT, DEFAULT -> DEFAULT, errors -> ERROR with
FLAG_NOT_FOUND / PROVIDER_NOT_READY / TYPE_MISMATCH / INVALID_CONTEXT / GENERAL. After each
refresh that changes the document the provider emits PROVIDER_CONFIGURATION_CHANGED with the
changed flag keys (PROVIDER_READY for the first document if initialisation timed out).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode, ProviderNotReadyError
from openfeature.flag_evaluation import FlagResolutionDetails
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import AbstractProvider, Metadata

from flagplane.client import ChangeEvent, Client
from flagplane.engine import Reason

_REASONS: dict[str, str] = {
    Reason.OFF: OFReason.DISABLED,
    Reason.TARGET: OFReason.TARGETING_MATCH,
    Reason.RULE_MATCH: OFReason.TARGETING_MATCH,
    Reason.SPLIT: OFReason.SPLIT,
    Reason.DEFAULT: OFReason.DEFAULT,
}

_ACCEPTS: dict[str, tuple[str, ...]] = {
    "boolean": ("boolean",),
    "string": ("string",),
    "integer": ("number",),
    "float": ("number",),
    "object": ("json",),
}


def _attribute(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def to_flagplane_context(context: EvaluationContext | None) -> dict[str, Any]:
    """OpenFeature context -> Flagplane context: targeting_key becomes ``key``."""
    if context is None:
        return {}
    out = {name: _attribute(value) for name, value in context.attributes.items()}
    if context.targeting_key is not None:
        out["key"] = context.targeting_key
    return out


class FlagplaneProvider(AbstractProvider):
    """An OpenFeature provider evaluating locally with a ``flagplane.Client``.

    Pass an existing ``client=`` (the provider then never closes it), or the ``Client``
    arguments to let the provider own one.
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        sdk_key: str = "",
        base_url: str = "http://localhost:8000",
        ready_timeout: float = 2.0,
        cache_path: str | os.PathLike[str] | None = None,
        poll_interval: float = 10.0,
    ) -> None:
        super().__init__()
        self._owns_client = client is None
        self._client = client or Client(
            sdk_key, base_url, poll_interval=poll_interval, cache_path=cache_path
        )
        self._ready_timeout = ready_timeout
        self._announced_ready = False

    @property
    def client(self) -> Client:
        return self._client

    def get_metadata(self) -> Metadata:
        return Metadata(name="flagplane")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self._client.add_listener(self._on_change)
        if not self._client.wait_until_ready(self._ready_timeout):
            raise ProviderNotReadyError("no Flagplane document yet; serving defaults")
        self._announced_ready = True

    def shutdown(self) -> None:
        self._client.remove_listener(self._on_change)
        if self._owns_client:
            self._client.close()

    def _on_change(self, event: ChangeEvent) -> None:
        details = ProviderEventDetails(
            flags_changed=list(event.changed_flags),
            metadata={"version": event.version},
        )
        if not self._announced_ready:
            self._announced_ready = True
            self.emit_provider_ready(details)
        else:
            self.emit_provider_configuration_changed(details)

    # ------------------------------------------------------------------------------------

    def _resolve(
        self, kind: str, flag_key: str, default: Any, context: EvaluationContext | None
    ) -> FlagResolutionDetails[Any]:
        variant_type = self._client.variant_type(flag_key)
        if variant_type is not None and variant_type not in _ACCEPTS[kind]:
            return FlagResolutionDetails(
                default,
                ErrorCode.TYPE_MISMATCH,
                f"flag {flag_key!r} is {variant_type}, not {kind}",
                OFReason.ERROR,
            )
        try:
            ctx = to_flagplane_context(context)
        except Exception as exc:
            return FlagResolutionDetails(
                default, ErrorCode.INVALID_CONTEXT, str(exc), OFReason.ERROR
            )
        result = self._client.evaluate(flag_key, ctx, None)
        if result.variant is None:
            codes: dict[str, ErrorCode] = {
                Reason.FLAG_NOT_FOUND: ErrorCode.FLAG_NOT_FOUND,
                Reason.NOT_READY: ErrorCode.PROVIDER_NOT_READY,
            }
            code = codes.get(result.reason, ErrorCode.GENERAL)
            return FlagResolutionDetails(
                default, code, f"Flagplane: {result.reason}", OFReason.ERROR
            )
        value = result.value
        if kind == "integer":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                return FlagResolutionDetails(
                    default, ErrorCode.TYPE_MISMATCH, f"{value!r} is not an integer", OFReason.ERROR
                )
        elif kind == "float":
            value = float(value)
        metadata: dict[str, str | int] = {}
        if result.rule is not None:
            metadata["rule"] = result.rule
        if result.bucket is not None:
            metadata["bucket"] = result.bucket
        return FlagResolutionDetails(
            value,
            reason=_REASONS.get(result.reason, OFReason.UNKNOWN),
            variant=result.variant,
            flag_metadata=metadata,
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve("boolean", flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve("string", flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve("integer", flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve("float", flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[Any] | Mapping[str, Any]]:
        return self._resolve("object", flag_key, default_value, evaluation_context)
