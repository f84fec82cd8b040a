"""Validate an SDK document (schema_version 1) and compile it into a ``Snapshot``, once.

``compile_document`` is public through ``flagplane.engine``; ``reading`` (a received body, one
flag at a time) and ``patching`` (a stream's patch) compile through the same functions, so a
document is checked and compiled by one set of rules whichever way it arrives.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from flagplane.bucketing import BUCKET_SPACE, cumulative_thresholds, unit_key
from flagplane.errors import InvalidDocument
from flagplane.gcpause import gc_paused
from flagplane.operators import Context, Matcher, compile_clause
from flagplane.snapshot import CompiledFlag, CompiledRule, CompiledServe, Reason, Snapshot

SCHEMA_VERSION = 1
"""The only SDK document schema_version this engine understands."""

FLAG_KINDS: frozenset[str] = frozenset({"boolean", "multivariate"})
VARIANT_TYPES: frozenset[str] = frozenset({"boolean", "string", "number", "json"})

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


def compile_flag_entry(flag: Mapping[str, Any], segments: Mapping[str, Any] | None) -> CompiledFlag:
    """Compile one flag of the document format with the document's segments, as SDKs will:
    only the segments the flag references are compiled. Raises ``InvalidDocument``."""
    resolver = _SegmentCompiler(_require_mapping({} if segments is None else segments, "segments"))
    key = flag.get("key") if isinstance(flag, Mapping) else None
    path = f'flags["{key}"]' if isinstance(key, str) else "flag"
    return compile_flag(flag, resolver.resolve, path)
