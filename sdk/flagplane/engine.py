"""The evaluation engine: compile an SDK document once, then evaluate flags without I/O.

Pure Python, no framework imports: the control plane imports this module for its preview
endpoint. Stable public API:

* ``compile_document(doc) -> Snapshot`` (raises ``InvalidDocument``)
* ``evaluate(snapshot, flag_key, context) -> Evaluation``
* ``evaluate_flag(flag, context, segments) -> Evaluation`` (raises ``InvalidDocument``)
* ``bucket(salt, unit) -> int``
* ``OPERATORS``, ``SCHEMA_VERSION``, ``Reason``, ``Evaluation``, ``InvalidDocument``
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

import mmh3

from flagplane.bucketing import BUCKET_SPACE, bucket, cumulative_thresholds, unit_key
from flagplane.errors import InvalidDocument
from flagplane.operators import OPERATORS, Context, Matcher, compile_clause

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

SCHEMA_VERSION = 1
"""The only SDK document schema_version this engine understands."""

FLAG_KINDS: frozenset[str] = frozenset({"boolean", "multivariate"})
VARIANT_TYPES: frozenset[str] = frozenset({"boolean", "string", "number", "json"})


class Reason(StrEnum):
    """Why an evaluation produced its value. Members are plain strings ("OFF", ...)."""

    OFF = "OFF"
    TARGET = "TARGET"
    RULE_MATCH = "RULE_MATCH"
    SPLIT = "SPLIT"
    DEFAULT = "DEFAULT"
    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    NOT_READY = "NOT_READY"
    ERROR = "ERROR"


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


class CompiledServe:
    """A rule's or the fallthrough's serve: one variant, or a cumulative split."""

    __slots__ = ("fixed", "last_index", "slices")

    def __init__(self, fixed: int | None, slices: tuple[tuple[int, int], ...]) -> None:
        self.fixed = fixed
        #: ((cumulative threshold, variant index), ...); empty for a fixed serve
        self.slices = slices
        self.last_index = slices[-1][1] if slices else -1


class CompiledRule:
    __slots__ = ("id", "matchers", "serve")

    def __init__(self, rule_id: str, matchers: tuple[Matcher, ...], serve: CompiledServe) -> None:
        self.id = rule_id
        self.matchers = matchers
        self.serve = serve


_NO_TARGETS: Mapping[str, int] = {}


class _Shared:
    """Canonical copies of equal immutable parts, so 10,000 flags with the same 50/50 split or
    the same variants share one object instead of holding 10,000 copies."""

    def __init__(self) -> None:
        self._objects: dict[Any, Any] = {}

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        try:
            found = self._objects.get(key)
        except TypeError:  # unhashable (JSON object/array values): not shared
            return make()
        if found is None:
            found = self._objects[key] = make()
        return found

    def same(self, value: Any) -> Any:
        return self.get(("same", type(value), value), lambda: value)


class CompiledFlag:
    """One flag compiled for fast evaluation. Treat as immutable except ``counts``.

    Fast-path attributes (``None`` when they do not apply):

    * ``constant_index``: the variant served whatever the context (flag off, or on with no
      targets, no rules and a fixed default); ``constant_reason`` is OFF or DEFAULT.
    * ``key_slices``: ((threshold, variant index), ...) when the flag is on with no targets or
      rules, falls through to a split and buckets by ``key``: a plain string context is enough.

    Descriptive attributes: ``metadata`` (the flag's metadata, string/number/boolean values),
    ``client_side`` (available to client-side keys), ``integral`` (every variant value is an
    integral number, so the flag reads as an integer whatever it serves).
    """

    __slots__ = (
        "bucket_by",
        "client_side",
        "constant_index",
        "constant_reason",
        "copy_values",
        "counts",
        "default",
        "integral",
        "is_boolean",
        "key",
        "key_slices",
        "kind",
        "metadata",
        "off_index",
        "on",
        "reported",
        "rules",
        "salt",
        "salt_prefix",
        "targets",
        "values",
        "variant_keys",
        "variant_type",
        "version",
    )

    key: str
    kind: str
    variant_type: str
    version: int
    on: bool
    salt: str
    salt_prefix: str
    bucket_by: str
    variant_keys: tuple[str, ...]
    values: tuple[Any, ...]
    copy_values: bool
    is_boolean: bool
    off_index: int
    targets: Mapping[str, int]
    rules: tuple[CompiledRule, ...]
    default: CompiledServe
    constant_index: int | None
    constant_reason: str
    key_slices: tuple[tuple[int, int], ...] | None
    counts: list[int]
    reported: list[int] | None
    metadata: Mapping[str, str | int | float | bool]
    client_side: bool
    integral: bool

    @property
    def is_static(self) -> bool:
        """On, with no targets and no rules, serving one fixed variant: context plays no part."""
        return self.on and self.constant_index is not None

    def value_at(self, index: int) -> Any:
        """The value of variant ``index``; JSON objects/arrays are copied so callers may mutate."""
        value = self.values[index]
        return copy.deepcopy(value) if self.copy_values else value


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable compiled document. Swap a whole snapshot to change what is served."""

    schema_version: int
    project: str
    environment: str
    version: int
    flags: Mapping[str, CompiledFlag]
    segments: Mapping[str, Matcher]


# ---------------------------------------------------------------------------------------------
# Compilation


def _require_str(
    obj: Mapping[str, Any], field: str, path: str, *, allow_empty: bool = False
) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidDocument(f"{path}.{field}", "must be a non-empty string")
    return value


def _require_int(obj: Mapping[str, Any], field: str, path: str, minimum: int) -> int:
    value = obj.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidDocument(f"{path}.{field}", f"must be an integer >= {minimum}")
    return value


def _require_list(obj: Mapping[str, Any], field: str, path: str) -> list[Any]:
    value = obj.get(field, [])
    if not isinstance(value, list):
        raise InvalidDocument(f"{path}.{field}", "must be a list")
    return value


def _require_mapping(value: Any, path: str) -> Mapping[str, Any]:
    # The exact-dict test first: parsed JSON is dicts, and the ABC check costs ~10x more.
    if value.__class__ is not dict and not isinstance(value, Mapping):
        raise InvalidDocument(path, "must be an object")
    return value


def value_fits(variant_type: str, value: Any) -> bool:
    """Whether ``value`` is a value of ``variant_type``: the one check of variant values, used by
    the engine, the client (for callers' defaults) and the control plane's validation. Numbers
    are finite, also inside a JSON value: JSON has no NaN or infinity, so no SDK could read one."""
    if variant_type == "boolean":
        return value is True or value is False
    if variant_type == "string":
        return isinstance(value, str)
    if variant_type == "number":
        return (
            not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
        )
    return _finite_json(value)


def _finite_json(value: Any) -> bool:
    """No float in ``value`` (nested lists and dicts included) is NaN or infinite."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return True


_NO_METADATA: Mapping[str, Any] = {}
METADATA_VALUE_TYPES = (str, int, float, bool)


def _compile_metadata(flag_map: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    raw = flag_map.get("metadata", _NO_METADATA)
    metadata = _require_mapping(raw, f"{path}.metadata")
    for name, value in metadata.items():
        if not isinstance(name, str) or not name:
            raise InvalidDocument(f"{path}.metadata", "keys must be non-empty strings")
        if not isinstance(value, METADATA_VALUE_TYPES) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise InvalidDocument(
                f"{path}.metadata.{name}", "must be a string, a finite number or a boolean"
            )
    return dict(metadata) if metadata else _NO_METADATA


def _is_integral(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


class _SegmentCompiler:
    """Compiles segments on first reference, rejecting unknown keys and reference cycles."""

    def __init__(self, raw: Mapping[str, Any], path: str = "segments") -> None:
        self.raw = raw
        self.path = path
        self.compiled: dict[str, Matcher] = {}
        self._visiting: set[str] = set()

    def resolve(self, key: str, path: str) -> Matcher:
        found = self.compiled.get(key)
        if found is not None:
            return found
        if key not in self.raw:
            raise InvalidDocument(path, f"unknown segment {key!r}")
        if key in self._visiting:
            raise InvalidDocument(path, f"segment reference cycle through {key!r}")
        self._visiting.add(key)
        try:
            matcher = self._compile(key, self.raw[key], f'{self.path}["{key}"]')
        finally:
            self._visiting.discard(key)
        self.compiled[key] = matcher
        return matcher

    def compile_all(self) -> dict[str, Matcher]:
        for key in self.raw:
            self.resolve(key, f'{self.path}["{key}"]')
        return self.compiled

    def _compile(self, key: str, raw: Any, path: str) -> Matcher:
        segment = _require_mapping(raw, path)
        if segment.get("key", key) != key:
            raise InvalidDocument(f"{path}.key", f"must equal its map key {key!r}")
        included = frozenset(self._keys(segment, "included", path))
        excluded = frozenset(self._keys(segment, "excluded", path))
        rules: list[tuple[Matcher, ...]] = []
        for r_index, raw_rule in enumerate(_require_list(segment, "rules", path)):
            rule_path = f"{path}.rules[{r_index}]"
            rule = _require_mapping(raw_rule, rule_path)
            clauses = _require_list(rule, "clauses", rule_path)
            rules.append(
                tuple(
                    compile_clause(clause, f"{rule_path}.clauses[{c_index}]", self.resolve)
                    for c_index, clause in enumerate(clauses)
                )
            )
        segment_rules = tuple(rules)

        def is_member(context: Context) -> bool:
            unit = context.get("key")
            if unit.__class__ is not str:
                unit = unit_key(unit)
            if unit is not None:
                if unit in included:
                    return True
                if unit in excluded:
                    return False
            for matchers in segment_rules:
                for matcher in matchers:
                    if not matcher(context):
                        break
                else:
                    return True
            return False

        return is_member

    @staticmethod
    def _keys(segment: Mapping[str, Any], field: str, path: str) -> list[str]:
        keys = _require_list(segment, field, path)
        for index, key in enumerate(keys):
            if not isinstance(key, str):
                raise InvalidDocument(f"{path}.{field}[{index}]", "must be a string")
        return keys


def _clause_identity(clause: Any) -> Any:
    """A hashable identity for a clause whose values are scalars, else None."""
    if clause.__class__ is not dict and not isinstance(clause, Mapping):
        return None
    values = clause.get("values")
    if not isinstance(values, list):
        return None
    return (
        clause.get("attribute"),
        clause.get("op"),
        tuple(zip(map(type, values), values, strict=True)),
        clause.get("negate", False),
        clause.get("case_insensitive", False),
    )


def _shared_clause(
    clause: Any, path: str, resolve_segment: Callable[[str, str], Matcher], shared: _Shared
) -> Matcher:
    """Compile a clause once per document: identical clauses in many flags share one matcher."""
    identity = _clause_identity(clause)
    if identity is None:
        return compile_clause(clause, path, resolve_segment)
    return shared.get(  # type: ignore[no-any-return]
        ("clause", identity), lambda: compile_clause(clause, path, resolve_segment)
    )


def _compile_serve(
    raw: Any, path: str, index_of: Mapping[str, int], shared: _Shared
) -> CompiledServe:
    serve = _require_mapping(raw, path)
    has_variant = "variant" in serve
    has_split = "split" in serve
    if has_variant == has_split:
        raise InvalidDocument(path, 'must have exactly one of "variant" or "split"')
    if has_variant:
        variant = serve["variant"]
        if variant not in index_of:
            raise InvalidDocument(f"{path}.variant", f"unknown variant {variant!r}")
        fixed = index_of[variant]
        return shared.get(("serve", fixed), lambda: CompiledServe(fixed, ()))  # type: ignore[no-any-return]
    split = serve["split"]
    if not isinstance(split, list) or not split:
        raise InvalidDocument(f"{path}.split", "must be a non-empty list")
    weights: list[int] = []
    indices: list[int] = []
    for s_index, raw_slice in enumerate(split):
        slice_path = f"{path}.split[{s_index}]"
        piece = _require_mapping(raw_slice, slice_path)
        variant = piece.get("variant")
        if not isinstance(variant, str) or variant not in index_of:
            raise InvalidDocument(f"{slice_path}.variant", f"unknown variant {variant!r}")
        weight = piece.get("weight")
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int)
            or not 0 <= weight <= BUCKET_SPACE
        ):
            raise InvalidDocument(f"{slice_path}.weight", f"must be an integer 0..{BUCKET_SPACE}")
        weights.append(weight)
        indices.append(index_of[variant])
    if sum(weights) != BUCKET_SPACE:
        raise InvalidDocument(
            f"{path}.split", f"weights must sum to exactly {BUCKET_SPACE}, got {sum(weights)}"
        )
    slices = tuple(zip(cumulative_thresholds(weights), indices, strict=True))
    return shared.get(("serve", slices), lambda: CompiledServe(None, slices))  # type: ignore[no-any-return]


def compile_flag(
    raw: Any,
    resolve_segment: Callable[[str, str], Matcher],
    path: str = "flag",
    expected_key: str | None = None,
    shared: _Shared | None = None,
) -> CompiledFlag:
    """Validate one flag of the document format and compile it. Raises InvalidDocument."""
    shared = shared or _Shared()
    flag_map = _require_mapping(raw, path)
    key = _require_str(flag_map, "key", path)
    if expected_key is not None:
        if key != expected_key:
            raise InvalidDocument(f"{path}.key", f"must equal its map key {expected_key!r}")
        key = expected_key  # one string object for the map key and flag.key
    kind = flag_map.get("kind")
    if kind not in FLAG_KINDS:
        raise InvalidDocument(f"{path}.kind", f"must be one of {sorted(FLAG_KINDS)}")
    variant_type = flag_map.get("variant_type")
    if variant_type not in VARIANT_TYPES:
        raise InvalidDocument(f"{path}.variant_type", f"must be one of {sorted(VARIANT_TYPES)}")
    if kind == "boolean" and variant_type != "boolean":
        raise InvalidDocument(f"{path}.variant_type", 'must be "boolean" for a boolean flag')
    version = _require_int(flag_map, "version", path, 0)
    on = flag_map.get("on")
    if not isinstance(on, bool):
        raise InvalidDocument(f"{path}.on", "must be a boolean")
    salt = flag_map.get("salt", key)
    if not isinstance(salt, str) or not salt:
        raise InvalidDocument(f"{path}.salt", "must be a non-empty string")
    bucket_by = flag_map.get("bucket_by", "key")
    if not isinstance(bucket_by, str) or not bucket_by:
        raise InvalidDocument(f"{path}.bucket_by", "must be a non-empty string")

    raw_variants = flag_map.get("variants")
    if not isinstance(raw_variants, list) or not raw_variants:
        raise InvalidDocument(f"{path}.variants", "must be a non-empty list")
    index_of: dict[str, int] = {}
    values: list[Any] = []
    for v_index, raw_variant in enumerate(raw_variants):
        variant_path = f"{path}.variants[{v_index}]"
        variant = _require_mapping(raw_variant, variant_path)
        variant_key = _require_str(variant, "key", variant_path)
        if variant_key in index_of:
            raise InvalidDocument(f"{variant_path}.key", f"duplicate variant {variant_key!r}")
        if "value" not in variant or not value_fits(variant_type, variant["value"]):
            raise InvalidDocument(f"{variant_path}.value", f"must be a {variant_type} value")
        index_of[variant_key] = v_index
        values.append(variant["value"])

    off_variant = flag_map.get("off_variant")
    if off_variant not in index_of:
        raise InvalidDocument(f"{path}.off_variant", f"unknown variant {off_variant!r}")

    targets: dict[str, int] = {}
    for t_index, raw_target in enumerate(_require_list(flag_map, "targets", path)):
        target_path = f"{path}.targets[{t_index}]"
        target = _require_mapping(raw_target, target_path)
        target_variant = target.get("variant")
        if not isinstance(target_variant, str) or target_variant not in index_of:
            raise InvalidDocument(f"{target_path}.variant", f"unknown variant {target_variant!r}")
        keys = _require_list(target, "keys", target_path)
        for k_index, target_key in enumerate(keys):
            if not isinstance(target_key, str):
                raise InvalidDocument(f"{target_path}.keys[{k_index}]", "must be a string")
            targets.setdefault(target_key, index_of[target_variant])  # first listing wins

    rules: list[CompiledRule] = []
    rule_ids: set[str] = set()
    for r_index, raw_rule in enumerate(_require_list(flag_map, "rules", path)):
        rule_path = f"{path}.rules[{r_index}]"
        rule = _require_mapping(raw_rule, rule_path)
        rule_id = _require_str(rule, "id", rule_path)
        if rule_id in rule_ids:
            raise InvalidDocument(f"{rule_path}.id", f"duplicate rule id {rule_id!r}")
        rule_ids.add(rule_id)
        description = rule.get("description", "")
        if not isinstance(description, str):
            raise InvalidDocument(f"{rule_path}.description", "must be a string")
        clauses = _require_list(rule, "clauses", rule_path)
        matchers = tuple(
            _shared_clause(clause, f"{rule_path}.clauses[{c_index}]", resolve_segment, shared)
            for c_index, clause in enumerate(clauses)
        )
        serve = _compile_serve(rule.get("serve"), f"{rule_path}.serve", index_of, shared)
        rules.append(CompiledRule(sys.intern(rule_id), matchers, serve))

    metadata = _compile_metadata(flag_map, path)
    client_side = flag_map.get("client_side", False)
    if not isinstance(client_side, bool):
        raise InvalidDocument(f"{path}.client_side", "must be a boolean")

    if "default" not in flag_map:
        raise InvalidDocument(f"{path}.default", "is required")
    default = _compile_serve(flag_map["default"], f"{path}.default", index_of, shared)

    flag = CompiledFlag()
    flag.key = key
    flag.kind = kind
    flag.variant_type = variant_type
    flag.version = version
    flag.on = on
    flag.salt = key if salt == key else salt
    flag.salt_prefix = salt + ":"
    flag.bucket_by = sys.intern(bucket_by)
    variant_keys = tuple(sys.intern(k) for k in index_of)
    flag.variant_keys = shared.same(variant_keys)
    typed_values = tuple((type(v), v) for v in values)  # True and 1 must not be shared
    flag.values = shared.get(("values", typed_values), lambda: tuple(values))
    flag.copy_values = variant_type == "json" and any(isinstance(v, dict | list) for v in values)
    flag.is_boolean = variant_type == "boolean"
    flag.off_index = index_of[off_variant]
    flag.targets = targets or _NO_TARGETS
    flag.rules = tuple(rules)
    flag.default = default
    flag.counts = [0] * len(values)  # evaluations per variant, incremented by clients
    flag.reported = None  # the part of counts already handed to metrics, once there is one
    flag.metadata = metadata
    flag.client_side = client_side
    flag.integral = variant_type == "number" and all(_is_integral(v) for v in values)

    flag.constant_index = None
    flag.constant_reason = Reason.DEFAULT
    flag.key_slices = None
    context_free = not targets and not rules
    if not on:
        flag.constant_index = flag.off_index
        flag.constant_reason = Reason.OFF
    elif context_free and default.fixed is not None:
        flag.constant_index = default.fixed
    elif context_free and bucket_by == "key":
        flag.key_slices = default.slices
    return flag


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a document is parsed and compiled.

    Both make millions of objects and no garbage cycles; with the collector on, its passes over
    the growing heap cost more than the work itself (5.7 s instead of 0.8 s for 10,000 flags of
    5 rules, bench/scale.py). Reference counting still frees everything; a collector that the
    application turned off stays off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compile_document(doc: Any) -> Snapshot:
    """Validate an SDK document (schema_version 1) and compile every flag once.

    Raises ``InvalidDocument`` naming the first bad field.
    """
    with gc_paused():
        return _compile_document(doc)


class _DocumentFields(NamedTuple):
    """A document's own fields, checked; its segments and flags are still to be compiled."""

    project: str
    environment: str
    version: int
    segments: Mapping[str, Any]
    flags: Mapping[str, Any]


def _document_fields(document: Mapping[str, Any]) -> _DocumentFields:
    """The checks of a document's own fields, for ``compile_document`` and ``reading``.

    Their order decides which error a document with several problems reports: the schema
    version first (a document of another schema is refused as such, whatever else it holds),
    then project, environment, version, segments and flags, all before any segment or flag
    is compiled.
    """
    schema_version = document.get("schema_version")
    if schema_version != SCHEMA_VERSION or isinstance(schema_version, bool):
        raise InvalidDocument(
            "schema_version", f"unsupported {schema_version!r}; this SDK reads {SCHEMA_VERSION}"
        )
    return _DocumentFields(
        _require_str(document, "project", "document", allow_empty=True),
        _require_str(document, "environment", "document", allow_empty=True),
        _require_int(document, "version", "document", 1),
        _require_mapping(document.get("segments", {}), "segments"),
        _require_mapping(document.get("flags"), "flags"),
    )


def _compile_document(doc: Any) -> Snapshot:
    project, environment, version, raw_segments, raw_flags = _document_fields(
        _require_mapping(doc, "document")
    )
    segments = _SegmentCompiler(raw_segments)
    compiled_segments = segments.compile_all()
    shared = _Shared()
    flags = {
        key: compile_flag(raw, segments.resolve, f'flags["{key}"]', key, shared)
        for key, raw in raw_flags.items()
    }
    return Snapshot(SCHEMA_VERSION, project, environment, version, flags, compiled_segments)


# ---------------------------------------------------------------------------------------------
# Evaluation


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


def compile_flag_entry(flag: Mapping[str, Any], segments: Mapping[str, Any] | None) -> CompiledFlag:
    """Compile one flag of the document format with the document's segments, as SDKs will:
    only the segments the flag references are compiled. Raises ``InvalidDocument``."""
    resolver = _SegmentCompiler(_require_mapping({} if segments is None else segments, "segments"))
    key = flag.get("key") if isinstance(flag, Mapping) else None
    path = f'flags["{key}"]' if isinstance(key, str) else "flag"
    return compile_flag(flag, resolver.resolve, path)
