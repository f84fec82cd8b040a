"""The evaluation engine: compile an SDK document once, then evaluate flags without I/O.

Compiling is ``flagplane.compiler``'s, what it compiles to (``Snapshot``, ``CompiledFlag``) is in
``flagplane.snapshot``; evaluation is here, and this module is where both are imported from.
Pure Python, no framework imports: the control plane imports this module for its preview
endpoint. Stable public API:

* ``compile_document(doc) -> Snapshot`` (raises ``InvalidDocument``)
* ``evaluate(snapshot, flag_key, context) -> Evaluation``
* ``evaluate_flag(flag, context, segments) -> Evaluation`` (raises ``InvalidDocument``)
* ``bucket(salt, unit) -> int``
* ``OPERATORS``, ``SCHEMA_VERSION``, ``Reason``, ``Evaluation``, ``InvalidDocument``
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import mmh3

from flagplane.bucketing import BUCKET_SPACE, bucket, unit_key
from flagplane.compiler import (
    SCHEMA_VERSION,
    compile_document,
    compile_flag,
    compile_flag_entry,
    value_fits,
)
from flagplane.errors import InvalidDocument
from flagplane.operators import OPERATORS, Context
from flagplane.snapshot import CompiledFlag, CompiledServe, Reason, Snapshot

__all__ = [
    "OPERATORS",
    "SCHEMA_VERSION",
    "CompiledFlag",
    "Evaluation",
    "InvalidDocument",
    "Reason",
    "Snapshot",
    "bucket",
    "compile_document",
    "compile_flag",
    "compile_flag_entry",
    "evaluate",
    "evaluate_flag",
    "resolve",
    "value_fits",
]

_hash = mmh3.hash

REASONS: frozenset[str] = frozenset(reason.value for reason in Reason)

# Module globals: reading a member off an Enum class costs more than the rest of a split.
_OFF, _TARGET, _RULE_MATCH, _SPLIT, _DEFAULT = (
    Reason.OFF,
    Reason.TARGET,
    Reason.RULE_MATCH,
    Reason.SPLIT,
    Reason.DEFAULT,
)


class Evaluation(NamedTuple):
    """The result of one evaluation: immutable, cheap, comparable to a plain tuple."""

    value: Any
    variant: str | None
    reason: str
    rule: str | None = None
    bucket: int | None = None


_new_evaluation: Callable[[tuple[Any, ...]], Evaluation] = functools.partial(
    tuple.__new__, Evaluation
)
"""Evaluation from a 5-tuple without the NamedTuple's Python-level __new__ (hot paths)."""


def resolve(flag: CompiledFlag, context: Context | str) -> tuple[int, str, str | None, int | None]:
    """Evaluate a compiled flag: (variant index, reason, rule id, bucket).

    The one implementation of the evaluation order and of bucketing (docs/bucketing.md, the
    formula of ``bucketing.bucket``): the client's ``is_enabled``, ``variant`` and ``evaluate``,
    ``evaluate()`` here and the OpenFeature provider all come through it. ``context`` is a
    Mapping, or a plain string meaning {"key": it}; never raises for either.
    """
    serve: CompiledServe
    reason: str
    rule: str | None
    unit: Any
    if context.__class__ is str and flag.key_slices is not None:
        # On, no targets or rules, a split by key: the string is the unit (the hottest case).
        serve, reason, rule, unit = flag.default, _SPLIT, None, context
    else:
        if context.__class__ is str:
            context = {"key": context}
        if not flag.on:
            return flag.off_index, _OFF, None, None
        if flag.targets:
            unit = context.get("key")  # type: ignore[union-attr]
            if unit.__class__ is not str:
                unit = unit_key(unit)
            if unit is not None:
                target = flag.targets.get(unit)
                if target is not None:
                    return target, _TARGET, None, None
        for compiled_rule in flag.rules:
            for matcher in compiled_rule.matchers:
                if not matcher(context):  # type: ignore[arg-type]
                    break
            else:
                serve, reason, rule = compiled_rule.serve, _RULE_MATCH, compiled_rule.id
                break
        else:
            serve, reason, rule = flag.default, _SPLIT, None
        if serve.fixed is not None:
            return serve.fixed, _DEFAULT if rule is None else reason, rule, None
        unit = context.get(flag.bucket_by)  # type: ignore[union-attr]
        if unit.__class__ is not str:
            unit = unit_key(unit)
            if unit is None:  # nothing to bucket by: the last slice, and no bucket
                return serve.last_index, reason, rule, None
    bucket_value = _hash(flag.salt_prefix + unit, 0, False) % BUCKET_SPACE
    for threshold, index in serve.slices:
        if bucket_value < threshold:
            return index, reason, rule, bucket_value
    return serve.last_index, reason, rule, bucket_value  # unreachable: the last is BUCKET_SPACE


def as_context(context: Any) -> Context | None:
    """A plain string is the context key; a Mapping is used as is; anything else is None."""
    if context.__class__ is str:
        return {"key": context}
    if isinstance(context, Mapping):
        return context
    return None


def evaluate_compiled(flag: CompiledFlag, context: Any) -> Evaluation:
    """Evaluate one compiled flag into an Evaluation (reason ERROR for a malformed context)."""
    ctx = as_context(context)
    if ctx is None:
        return Evaluation(None, None, Reason.ERROR)
    index, reason, rule, bucket_value = resolve(flag, ctx)
    return _new_evaluation(
        (flag.value_at(index), flag.variant_keys[index], reason, rule, bucket_value)
    )


def evaluate(snapshot: Snapshot, flag_key: str, context: Any) -> Evaluation:
    """Evaluate ``flag_key`` for ``context`` (a dict, or a plain string meaning {"key": it}).

    Unknown flag -> reason FLAG_NOT_FOUND; a context that is neither -> reason ERROR; both with
    value and variant None. Never raises.
    """
    flag = snapshot.flags.get(flag_key)
    if flag is None:
        return Evaluation(None, None, Reason.FLAG_NOT_FOUND)
    return evaluate_compiled(flag, context)


def evaluate_flag(
    flag: Mapping[str, Any], context: Any, segments: Mapping[str, Any] | None
) -> Evaluation:
    """Compile one flag of the document format (with the document's segments) and evaluate it.

    For previews: same code path as ``compile_document`` + ``evaluate``. Only segments the flag
    references are compiled. Raises ``InvalidDocument`` if the flag or a referenced segment is
    malformed.
    """
    return evaluate_compiled(compile_flag_entry(flag, segments), context)
