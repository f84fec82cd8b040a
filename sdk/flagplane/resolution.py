"""OpenFeature's view of a Flagplane evaluation: reasons, error codes, values and flag metadata.

One home for the mapping, shared by the OpenFeature provider (``flagplane.openfeature``) and the
control plane's OFREP server; it needs no ``openfeature-sdk``. The rules:

* A flag that is off (the kill switch) resolves to the caller's default with reason DISABLED and
  no variant: OpenFeature's "disabled in the flag management system".
* A flag that is on with no targets and no rules and one fixed variant is STATIC; DEFAULT is kept
  for a fall-through after targets or rules that did not match. TARGET and RULE_MATCH are
  TARGETING_MATCH; SPLIT is SPLIT.
* A split that buckets by ``key`` when the context has no targeting key is TARGETING_KEY_MISSING
  (the native SDK serves the split's last variant then; OpenFeature asks for an error). A split on
  another attribute that is missing is INVALID_CONTEXT.
* ``flag_metadata`` is the flag's own metadata plus ``rule`` (the matched rule id) and ``bucket``
  (0..99999) when the evaluation has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from flagplane.engine import CompiledFlag, Reason, resolve

# OpenFeature reason and error-code strings (the specification's "types" section).
STATIC = "STATIC"
DEFAULT = "DEFAULT"
TARGETING_MATCH = "TARGETING_MATCH"
SPLIT = "SPLIT"
DISABLED = "DISABLED"
ERROR = "ERROR"

FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
INVALID_CONTEXT = "INVALID_CONTEXT"
TYPE_MISMATCH = "TYPE_MISMATCH"
GENERAL = "GENERAL"

RESERVED_METADATA_KEYS = frozenset({"rule", "bucket"})
"""Set by the evaluation; a flag's own metadata cannot use them."""

_REASONS: Mapping[str, str] = {
    Reason.TARGET: TARGETING_MATCH,
    Reason.RULE_MATCH: TARGETING_MATCH,
    Reason.SPLIT: SPLIT,
    Reason.DEFAULT: DEFAULT,
}

_NO_METADATA: Mapping[str, Any] = {}


class Resolution(NamedTuple):
    """One flag resolved for OpenFeature. ``error_code`` None means normal execution."""

    value: Any
    """The variant's value; None when the caller's default applies (disabled, or an error)."""
    variant: str | None
    reason: str
    metadata: Mapping[str, str | int | float | bool]
    error_code: str | None = None
    error_message: str | None = None
    variant_index: int | None = None
    """The index of the variant served (for evaluation counts), None when none was."""


def _failure(flag: CompiledFlag, code: str, message: str) -> Resolution:
    return Resolution(None, None, ERROR, flag.metadata, code, message)


def _missing_unit(flag: CompiledFlag, reason: str, rule: str | None, bucket: int | None) -> bool:
    """Whether the engine served a split without the attribute it buckets by."""
    if bucket is not None or reason not in (Reason.SPLIT, Reason.RULE_MATCH):
        return False
    if reason == Reason.SPLIT:
        return True
    serve = next(r.serve for r in flag.rules if r.id == rule)
    return serve.fixed is None


def resolve_flag(flag: CompiledFlag, context: Mapping[str, Any]) -> Resolution:
    """Evaluate ``flag`` for ``context`` (a Flagplane context: ``key`` is the targeting key)."""
    if not flag.on:
        return Resolution(None, None, DISABLED, flag.metadata)
    index, reason, rule, bucket = resolve(flag, context)
    if _missing_unit(flag, reason, rule, bucket):
        if flag.bucket_by == "key":
            return _failure(flag, TARGETING_KEY_MISSING, "this flag splits by the targeting key")
        return _failure(
            flag, INVALID_CONTEXT, f"this flag splits by the attribute {flag.bucket_by!r}"
        )
    of_reason = STATIC if flag.is_static else _REASONS[reason]
    metadata: Mapping[str, Any] = flag.metadata
    if rule is not None or bucket is not None:
        metadata = dict(flag.metadata)
        if rule is not None:
            metadata["rule"] = rule
        if bucket is not None:
            metadata["bucket"] = bucket
    return Resolution(
        flag.value_at(index), flag.variant_keys[index], of_reason, metadata, variant_index=index
    )


def flag_not_found(flag_key: str) -> Resolution:
    return Resolution(None, None, ERROR, _NO_METADATA, FLAG_NOT_FOUND, f"no flag {flag_key!r}")


# OpenFeature's typed accessors -> the variant types that may answer them.
ACCEPTS: Mapping[str, tuple[str, ...]] = {
    "boolean": ("boolean",),
    "string": ("string",),
    "integer": ("number",),
    "float": ("number",),
    "object": ("json",),
}


def type_mismatch(flag: CompiledFlag, kind: str) -> str | None:
    """Why ``flag`` cannot answer OpenFeature's ``kind`` accessor, or None if it can.

    Decided by the flag, never by the value served: a number flag reads as an integer only if
    every variant is integral (10 or 10.0), so one context cannot get a value and another a
    TYPE_MISMATCH from the same flag.
    """
    if flag.variant_type not in ACCEPTS[kind]:
        return f"flag {flag.key!r} is {flag.variant_type}, not {kind}"
    if kind == "integer" and not flag.integral:
        return f"flag {flag.key!r} has non-integral number variants; read it as a float"
    return None


def typed_value(kind: str, value: Any) -> Any:
    """The value as OpenFeature's ``kind`` accessor returns it (numbers made int or float)."""
    if kind == "integer":
        return int(value)
    if kind == "float":
        return float(value)
    return value
