"""OpenFeature provider backed by a Flagplane client (``pip install flagplane[openfeature]``).

    from openfeature import api
    from flagplane.openfeature import FlagplaneProvider

    api.set_provider(FlagplaneProvider(sdk_key="...", base_url="https://flags.example.com"))
    client = api.get_client()
    client.get_boolean_value("new-checkout", False, EvaluationContext("user-42", {"plan": "pro"}))

The OpenFeature ``targeting_key`` becomes the context ``key``; attributes are passed through
(datetimes become ISO 8601 strings for the date operators). Reasons, error codes and flag
metadata follow ``flagplane.resolution`` (STATIC, DEFAULT, TARGETING_MATCH, SPLIT, DISABLED with
the caller's default; FLAG_NOT_FOUND, TYPE_MISMATCH, TARGETING_KEY_MISSING, INVALID_CONTEXT,
PARSE_ERROR, PROVIDER_NOT_READY, GENERAL).

Lifecycle (the specification's provider states; each transition emits its event once):

* ``initialize`` returns once the client serves a document (the SDK then emits READY), raises
  ``ProviderFatalError`` when the control plane refuses the SDK key (FATAL, PROVIDER_FATAL) and
  ``ProviderNotReadyError`` when no document came in time (ERROR).
* Afterwards the provider emits: READY when the first document arrives after an ERROR or when the
  control plane answers again after STALE; STALE when a sync fails while a document is served;
  ERROR with PROVIDER_FATAL when the key is refused; CONFIGURATION_CHANGED with the changed flag
  keys after each new document.
* ``shutdown`` returns the provider to NOT_READY; registering it again starts a fresh client if it
  owns one, so it never serves a frozen document.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode, ProviderFatalError, ProviderNotReadyError
from openfeature.flag_evaluation import FlagResolutionDetails
from openfeature.provider import AbstractProvider, Metadata, ProviderStatus

from flagplane import resolution
from flagplane.client import ChangeEvent, Client, SyncState

logger = logging.getLogger("flagplane")

_ERROR_CODES: dict[str, ErrorCode] = {code.value: code for code in ErrorCode}


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


def _details(
    value: Any,
    code: str,
    message: str,
    metadata: Mapping[str, Any] | None = None,
) -> FlagResolutionDetails[Any]:
    return FlagResolutionDetails(
        value,
        error_code=_ERROR_CODES.get(code, ErrorCode.GENERAL),
        error_message=message,
        reason=resolution.ERROR,
        flag_metadata=dict(metadata or {}),
    )


class FlagplaneProvider(AbstractProvider):
    """An OpenFeature provider evaluating locally with a ``flagplane.Client``.

    Pass an existing ``client=`` (the provider then never closes it), or the ``Client``
    keyword arguments (``sdk_key``, ``base_url``, ``poll_interval``, ``cache_path``...) to let
    the provider own one. ``ready_timeout`` bounds how long ``initialize`` waits for a document.
    """

    def __init__(
        self, client: Client | None = None, *, ready_timeout: float = 2.0, **client_options: Any
    ) -> None:
        super().__init__()
        self._owns_client = client is None
        self._client_options = client_options
        self._client = client or Client(**client_options)
        self._ready_timeout = ready_timeout
        self._lock = threading.Lock()
        self._status = ProviderStatus.NOT_READY

    @property
    def client(self) -> Client:
        return self._client

    @property
    def status(self) -> ProviderStatus:
        """The state this provider last announced (the SDK keeps its own copy from the events)."""
        return self._status

    def get_metadata(self) -> Metadata:
        return Metadata(name="flagplane")

    # ------------------------------------------------------------------------------------
    # Lifecycle

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        if self._owns_client and self._client.status().closed:
            self._client = Client(**self._client_options)
        self._client.add_listener(self._on_change)
        self._client.add_sync_listener(self._on_sync)
        self._client.wait_until_ready(self._ready_timeout)
        status = self._client.status()
        with self._lock:
            if status.sync_state == SyncState.REFUSED:
                self._status = ProviderStatus.FATAL
                raise ProviderFatalError(
                    f"the control plane refused the SDK key: {status.last_error}"
                )
            if not status.ready:
                self._status = ProviderStatus.ERROR
                raise ProviderNotReadyError("no Flagplane document yet; serving defaults")
            self._status = ProviderStatus.READY  # the SDK emits READY when this returns

    def shutdown(self) -> None:
        self._client.remove_listener(self._on_change)
        self._client.remove_sync_listener(self._on_sync)
        with self._lock:
            self._status = ProviderStatus.NOT_READY
        if self._owns_client:
            self._client.close()

    def _emit(self, status: ProviderStatus, details: ProviderEventDetails) -> None:
        """Move to ``status`` and emit its event, unless already there. Caller holds the lock.

        Nothing moves before ``initialize`` decided the first state, nor out of FATAL.
        """
        if self._status in (status, ProviderStatus.NOT_READY, ProviderStatus.FATAL):
            return
        self._status = status
        if status == ProviderStatus.READY:
            self.emit_provider_ready(details)
        elif status == ProviderStatus.STALE:
            self.emit_provider_stale(details)
        else:
            self.emit_provider_error(details)

    def _on_sync(self, state: SyncState, error: str | None) -> None:
        with self._lock:
            if state == SyncState.REFUSED:
                details = ProviderEventDetails(message=error, error_code=ErrorCode.PROVIDER_FATAL)
                self._emit(ProviderStatus.FATAL, details)
            elif state == SyncState.OK:
                if self._client.status().ready:
                    self._emit(ProviderStatus.READY, ProviderEventDetails())
            elif self._status == ProviderStatus.READY:
                self._emit(ProviderStatus.STALE, ProviderEventDetails(message=error))

    def _on_change(self, event: ChangeEvent) -> None:
        details = ProviderEventDetails(
            flags_changed=list(event.changed_flags),
            metadata={"version": event.version},
        )
        with self._lock:
            if self._status == ProviderStatus.ERROR:
                self._emit(ProviderStatus.READY, details)  # the first document after an ERROR
            elif self._status in (ProviderStatus.READY, ProviderStatus.STALE):
                self.emit_provider_configuration_changed(details)

    # ------------------------------------------------------------------------------------
    # Resolution

    def _resolve(
        self, kind: str, flag_key: str, default: Any, context: EvaluationContext | None
    ) -> FlagResolutionDetails[Any]:
        flag = self._client.flag(flag_key)
        if flag is None:
            return self._missing(flag_key, default)
        mismatch = resolution.type_mismatch(flag, kind)
        if mismatch is not None:
            return _details(default, resolution.TYPE_MISMATCH, mismatch, flag.metadata)
        try:
            ctx = to_flagplane_context(context)
            result = resolution.resolve_flag(flag, ctx)
        except Exception as exc:  # a hostile attribute value; never let it reach the caller
            return _details(default, resolution.INVALID_CONTEXT, repr(exc), flag.metadata)
        if result.error_code is not None:
            return _details(default, result.error_code, result.error_message or "", result.metadata)
        if result.variant_index is not None:
            flag.counts[result.variant_index] += 1
        value = default if result.variant is None else resolution.typed_value(kind, result.value)
        return FlagResolutionDetails(
            value,
            reason=result.reason,
            variant=result.variant,
            flag_metadata=dict(result.metadata),
        )

    def _missing(self, flag_key: str, default: Any) -> FlagResolutionDetails[Any]:
        status = self._client.status()
        if status.ready:
            return _details(default, resolution.FLAG_NOT_FOUND, f"no flag {flag_key!r}")
        if status.sync_state == SyncState.REJECTED:
            return _details(default, "PARSE_ERROR", status.last_error or "rejected document")
        return _details(default, "PROVIDER_NOT_READY", "no Flagplane document yet")

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
