"""Helpers for testing code that uses Flagplane, without a control plane.

    from flagplane.testing import TestClient

    def test_checkout() -> None:
        flags = TestClient()
        flags.set("new-checkout", True)
        flags.set("layout", "blue")
        assert my_view(flags) == ...

A TestClient is a real ``flagplane.Client`` (same evaluation code, same misuse handling)
serving an in-memory document you edit; it never touches the network. Health signals
recorded through ``guard()``/``record()`` are kept in ``recorded`` for assertions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from flagplane.client import Client
from flagplane.engine import Evaluation, compile_document


@dataclass(frozen=True, slots=True)
class RecordedSignal:
    flag: str
    variant: str
    ok: bool
    latency_ms: float | None


def _variant_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    return "json"


class TestClient(Client):
    """An offline client whose flags you set: ``set(key, value)``, ``set_targets``, ``remove``."""

    __test__ = False  # not a pytest test class

    def __init__(self, flags: dict[str, Any] | None = None) -> None:
        super().__init__(offline=True)
        self.recorded: list[RecordedSignal] = []
        self._document: dict[str, Any] = {
            "schema_version": 1,
            "project": "test",
            "environment": "test",
            "version": 1,
            "flags": {},
            "segments": {},
        }
        for key, value in (flags or {}).items():
            self.set(key, value)
        self._publish()

    def set(self, flag_key: str, value: Any, *, for_keys: list[str] | None = None) -> None:
        """Serve ``value`` to everyone, or only to the context keys in ``for_keys`` (others then
        get the flag's previous value, or ``False``/``None`` for a new flag)."""
        flags = self._document["flags"]
        current = flags.get(flag_key)
        if for_keys is None or current is None:
            base = value if for_keys is None else (False if isinstance(value, bool) else None)
            current = self._flag(flag_key, base)
            flags[flag_key] = current
        if for_keys is None:
            self._publish()
            return
        variant_key = f"v{len(current['variants'])}"
        current["variants"].append({"key": variant_key, "value": value})
        if _variant_type(value) != current["variant_type"]:
            current["variant_type"] = "json"
            current["kind"] = "multivariate"
        current["targets"].append({"variant": variant_key, "keys": list(for_keys)})
        self._publish()

    def remove(self, flag_key: str) -> None:
        self._document["flags"].pop(flag_key, None)
        self._publish()

    def set_document(self, document: dict[str, Any]) -> None:
        """Serve a whole SDK document (e.g. a copy of a real one)."""
        self._document = copy.deepcopy(document)
        self._publish()

    def record(
        self,
        flag_key: str,
        context_or_variant: Any,
        ok: bool = True,
        latency_ms: float | None = None,
    ) -> None:
        super().record(flag_key, context_or_variant, ok, latency_ms)
        variant = (
            context_or_variant
            if isinstance(context_or_variant, str)
            else self.evaluate(flag_key, context_or_variant).variant
        )
        if variant is not None:
            self.recorded.append(RecordedSignal(flag_key, variant, bool(ok), latency_ms))

    def _record_variant(
        self, flag_key: str, evaluation: Evaluation, ok: bool, started: float
    ) -> None:
        super()._record_variant(flag_key, evaluation, ok, started)
        if evaluation.variant is not None:
            self.recorded.append(RecordedSignal(flag_key, evaluation.variant, ok, None))

    @staticmethod
    def _flag(flag_key: str, value: Any) -> dict[str, Any]:
        variant_type = _variant_type(value)
        return {
            "key": flag_key,
            "kind": "boolean" if variant_type == "boolean" else "multivariate",
            "variant_type": variant_type,
            "version": 1,
            "on": True,
            "salt": flag_key,
            "bucket_by": "key",
            "variants": [{"key": "v0", "value": value}],
            "off_variant": "v0",
            "targets": [],
            "rules": [],
            "default": {"variant": "v0"},
        }

    def _publish(self) -> None:
        self._document["version"] += 1
        self._install(compile_document(self._document), "bootstrap")
        self._settled.set()
