"""Validation of flag variants and targeting, with messages a person can act on.

Errors are collected as ``{"path.to.field": ["message", ...]}`` (e.g. ``rules.0.clauses.1.op``)
and raised together as one ``TargetingError`` so the API answers 400 with every problem at once
and nothing is saved. The value checks use the SDK's own parsers, so anything that passes here
is something the SDK can evaluate.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from controlplane.errors import ErrorCollector, join_path
from controlplane.flags.errors import TargetingError
from flagplane.bucketing import BUCKET_SPACE
from flagplane.conversions import to_epoch_ms, to_network, to_semver
from flagplane.engine import value_fits
from flagplane.operators import DATE_OPERATORS, NUMBER_OPERATORS, OPERATORS, SEMVER_OPERATORS, STRING_OPERATORS
from flagplane.regex import MAX_INPUT_BYTES, MAX_PROGRAM_SIZE, RegexError, compile_pattern

VARIANT_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class _Errors(ErrorCollector):
    def __init__(self) -> None:
        super().__init__(TargetingError)


_join = join_path


def finite_decimal(value: Any) -> Decimal | None:
    """``value`` (a JSON number, or a string holding one) as a Decimal; None if it is not a finite number."""
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


MAX_METADATA_ENTRIES = 50
MAX_METADATA_TEXT = 1000
METADATA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
RESERVED_METADATA = frozenset({"rule", "bucket"})  # flagplane.resolution sets them per evaluation


def validate_metadata(metadata: Any) -> None:
    """A flag's metadata: at most 50 names, each with a string, finite number or boolean value."""
    errors = _Errors()
    if not isinstance(metadata, dict):
        errors.add("metadata", 'An object like {"team": "payments", "ticket": 123, "beta": true}.')
        errors.raise_if_any()
    if len(metadata) > MAX_METADATA_ENTRIES:
        errors.add("metadata", f"At most {MAX_METADATA_ENTRIES} entries.")
    for name, value in metadata.items():
        path = _join("metadata", name)
        if not METADATA_NAME.match(name):
            errors.add(path, "Names use letters, digits, '-', '_', '.' or ':' (at most 64).")
        elif name in RESERVED_METADATA:
            errors.add(path, f"{name!r} is set by each evaluation (the matched rule, the bucket); use another name.")
        if isinstance(value, str):
            if len(value) > MAX_METADATA_TEXT:
                errors.add(path, f"At most {MAX_METADATA_TEXT} characters.")
        elif not isinstance(value, bool) and finite_decimal(value) is None:
            errors.add(path, "A string, a finite number or true/false (OpenFeature's flag metadata types).")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            errors.add(path, "Integers beyond 2^53 lose precision in JavaScript; use a string.")
    errors.raise_if_any()


def validate_variants(kind: str, variant_type: str, variants: Any, off_variant: str) -> None:
    errors = _Errors()
    if kind == "boolean" and variant_type != "boolean":
        errors.add("variant_type", "A boolean flag has boolean variants.")
    if kind == "multivariate" and variant_type == "boolean":
        errors.add("variant_type", "A multivariate flag has string, number or JSON variants.")
    if not isinstance(variants, list) or len(variants) < 2:
        errors.add("variants", "A flag needs at least two variants.")
        errors.raise_if_any()
    seen: set[str] = set()
    for index, variant in enumerate(variants):
        path = _join("variants", index)
        if not isinstance(variant, dict) or set(variant) - {"key", "value", "name", "description"}:
            errors.add(path, 'Each variant is {"key": ..., "value": ...} (optionally "name", "description").')
            continue
        key = variant.get("key")
        if not isinstance(key, str) or not VARIANT_KEY.match(key):
            errors.add(_join(path, "key"), "Use letters, digits, '-', '_' or '.' (at most 128).")
        elif key in seen:
            errors.add(_join(path, "key"), f"Variant {key!r} appears twice.")
        else:
            seen.add(key)
        if "value" not in variant or not value_fits(variant_type, variant["value"]):
            errors.add(_join(path, "value"), f"The value must be of the flag's variant type ({variant_type}).")
    if kind == "boolean" and {v.get("key"): v.get("value") for v in variants if isinstance(v, dict)} != {
        "on": True,
        "off": False,
    }:
        errors.add("variants", 'A boolean flag has exactly the variants "on" (true) and "off" (false).')
    if off_variant not in seen:
        errors.add("off_variant", f"{off_variant!r} is not one of the flag's variants.")
    errors.raise_if_any()


def normalize_serve(serve: Any, variant_keys: Iterable[str], path: str, errors: _Errors) -> dict | None:
    """Check a serve and return it in document form; splits may be given in weight or percent."""
    variant_keys = list(variant_keys)
    if not isinstance(serve, dict) or len(serve) != 1 or not ({"variant", "split"} & set(serve)):
        errors.add(path, 'Serve either {"variant": key} or {"split": [{"variant": key, "weight": n}, ...]}.')
        return None
    if "variant" in serve:
        if serve["variant"] not in variant_keys:
            errors.add(_join(path, "variant"), f"Unknown variant {serve['variant']!r}; known: {variant_keys}.")
            return None
        return {"variant": serve["variant"]}
    slices = serve["split"]
    if not isinstance(slices, list) or not slices:
        errors.add(_join(path, "split"), "A split is a non-empty list of slices.")
        return None
    normalized, seen, ok = [], set(), True
    for index, item in enumerate(slices):
        slice_path = _join(_join(path, "split"), index)
        if not isinstance(item, dict) or set(item) - {"variant", "weight", "percent"}:
            errors.add(
                slice_path, 'A slice is {"variant": key, "weight": 0..100000} or {"variant": key, "percent": 0..100}.'
            )
            ok = False
            continue
        variant = item.get("variant")
        if variant not in variant_keys:
            errors.add(_join(slice_path, "variant"), f"Unknown variant {variant!r}; known: {variant_keys}.")
            ok = False
        elif variant in seen:
            errors.add(_join(slice_path, "variant"), f"Variant {variant!r} appears twice in the split.")
            ok = False
        seen.add(variant)
        weight = _slice_weight(item, slice_path, errors)
        if weight is None:
            ok = False
            continue
        normalized.append({"variant": variant, "weight": weight})
    if ok and sum(s["weight"] for s in normalized) != BUCKET_SPACE:
        total = Decimal(sum(s["weight"] for s in normalized)) / 1000
        errors.add(_join(path, "split"), f"Weights must add up to 100% (100000); they add up to {total}%.")
        ok = False
    return {"split": normalized} if ok else None


def _slice_weight(item: dict, path: str, errors: _Errors) -> int | None:
    if ("weight" in item) == ("percent" in item):
        errors.add(path, 'Give either "weight" (thousandths of a percent) or "percent".')
        return None
    if "weight" in item:
        weight = item["weight"]
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= BUCKET_SPACE:
            errors.add(_join(path, "weight"), "A weight is an integer from 0 to 100000 (thousandths of a percent).")
            return None
        return weight
    percent = finite_decimal(item["percent"])
    if percent is None or not Decimal(0) <= percent <= Decimal(100):
        errors.add(_join(path, "percent"), "A percentage is a number from 0 to 100.")
        return None
    if (percent * 1000) != (percent * 1000).to_integral_value():
        errors.add(_join(path, "percent"), "Percentages have at most three decimals (0.001% granularity).")
        return None
    return int(percent * 1000)


def validate_clause(clause: Any, path: str, errors: _Errors, segment_keys: set[str]) -> dict | None:
    if not isinstance(clause, dict):
        errors.add(path, 'A clause is {"attribute", "op", "values", "negate", "case_insensitive"}.')
        return None
    unknown = set(clause) - {"attribute", "op", "values", "negate", "case_insensitive"}
    if unknown:
        errors.add(path, f"Unknown clause fields: {sorted(unknown)}.")
    op = clause.get("op")
    attribute = clause.get("attribute", "key" if op == "in_segment" else None)
    values = clause.get("values")
    start = len(errors.by_path)
    if not isinstance(attribute, str) or not attribute:
        errors.add(_join(path, "attribute"), 'Name the context attribute, e.g. "plan" or "key".')
    if op not in OPERATORS:
        errors.add(_join(path, "op"), f"Unknown operator {op!r}; one of: {', '.join(sorted(OPERATORS))}.")
    if not isinstance(values, list) or not values:
        errors.add(_join(path, "values"), "Give at least one value.")
    for flag_name in ("negate", "case_insensitive"):
        if not isinstance(clause.get(flag_name, False), bool):
            errors.add(_join(path, flag_name), "Must be true or false.")
    if len(errors.by_path) == start:
        _validate_values(op, values, clause.get("case_insensitive", False), _join(path, "values"), errors, segment_keys)
    if len(errors.by_path) != start:
        return None
    return {
        "attribute": attribute,
        "op": op,
        "values": values,
        "negate": clause.get("negate", False),
        "case_insensitive": clause.get("case_insensitive", False),
    }


def _validate_values(
    op: str, values: list, case_insensitive: bool, path: str, errors: _Errors, segment_keys: set[str]
) -> None:
    if op == "equals" and len(values) != 1:
        errors.add(path, "equals takes exactly one value (use in for several).")
    for index, value in enumerate(values):
        value_path = _join(path, index)
        if op in STRING_OPERATORS - {"in", "not_in", "equals"} and not isinstance(value, str):
            errors.add(value_path, f"{op} compares text: give a string.")
        elif op in {"in", "not_in", "equals"} and not isinstance(value, str | int | float | bool):
            errors.add(value_path, "Give a string, number or boolean.")
        elif op == "regex":
            problem = regex_problem(value, case_insensitive)
            if problem:
                errors.add(value_path, problem)
        elif op in NUMBER_OPERATORS and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors.add(value_path, f"{op} compares numbers: give a number.")
        elif op in SEMVER_OPERATORS and (not isinstance(value, str) or to_semver(value) is None):
            errors.add(value_path, f"{value!r} is not a semantic version like 1.4.2.")
        elif op in DATE_OPERATORS and to_epoch_ms(value) is None:
            errors.add(value_path, f"{value!r} is not a date: give RFC 3339 text or epoch milliseconds.")
        elif op == "in_cidr" and to_network(value) is None:
            errors.add(value_path, f"{value!r} is not a CIDR range like 10.0.0.0/8.")
        elif op == "in_segment" and value not in segment_keys:
            errors.add(value_path, f"Unknown segment {value!r}.")


MAX_PATTERN_LENGTH = 1000


def regex_problem(pattern: str, case_insensitive: bool) -> str | None:
    """Why SDKs could not evaluate ``pattern`` quickly on any input, or None if they can.

    SDKs match with RE2 (``flagplane.regex``): linear in the input, at most ``MAX_INPUT_BYTES``
    of it; a program of at most ``MAX_PROGRAM_SIZE`` instructions keeps every search under a
    millisecond (``bench/regex_redos.py``).
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"A regular expression has at most {MAX_PATTERN_LENGTH} characters; this one has {len(pattern)}."
    shown = repr(pattern) if len(pattern) <= 60 else repr(pattern[:60]) + "…"
    try:
        compiled = compile_pattern(pattern, case_insensitive)
    except RegexError as exc:
        return (
            f"Invalid regular expression {shown}: {exc}. Patterns use RE2 syntax "
            "(no backreferences or look-around), which matches in time linear in the text."
        )
    if compiled.programsize > MAX_PROGRAM_SIZE:
        return (
            f"{shown} is too complex: it compiles to {compiled.programsize} RE2 instructions and at most "
            f"{MAX_PROGRAM_SIZE} are allowed, so that SDKs match any attribute (up to {MAX_INPUT_BYTES} bytes) "
            "within a millisecond. Shorten it (large counted repetitions like {50} and Unicode classes like "
            "\\pL are costly), or split it into several values: the clause matches when any of them does."
        )
    return None


def validate_rule_clauses(clauses: Any, path: str, errors: _Errors, segment_keys: set[str]) -> list[dict]:
    if not isinstance(clauses, list):
        errors.add(path, "Clauses are a list (an empty list matches every context).")
        return []
    checked = [validate_clause(clause, _join(path, i), errors, segment_keys) for i, clause in enumerate(clauses)]
    return [clause for clause in checked if clause is not None]


def validate_targeting(
    *,
    variant_keys: list[str],
    targets: Any,
    rules: Any,
    default_serve: Any,
    bucket_by: Any,
    segment_keys: set[str],
) -> dict:
    """Check a flag state's targeting; return it normalized (rule ids filled, percents as weights)."""
    errors = _Errors()
    normalized_targets = _validate_targets(targets, variant_keys, errors)
    normalized_rules = []
    if not isinstance(rules, list):
        errors.add("rules", "Rules are a list.")
        rules = []
    for index, rule in enumerate(rules):
        path = _join("rules", index)
        if not isinstance(rule, dict) or set(rule) - {"id", "description", "clauses", "serve"}:
            errors.add(path, 'A rule is {"id", "description", "clauses": [...], "serve": {...}}.')
            continue
        clauses = validate_rule_clauses(rule.get("clauses"), _join(path, "clauses"), errors, segment_keys)
        serve = normalize_serve(rule.get("serve"), variant_keys, _join(path, "serve"), errors)
        description = rule.get("description", "")
        if not isinstance(description, str):
            errors.add(_join(path, "description"), "A description is text.")
        normalized_rules.append(
            {
                "id": str(rule.get("id") or uuid.uuid4().hex[:8]),
                "description": description if isinstance(description, str) else "",
                "clauses": clauses,
                "serve": serve,
            }
        )
    ids = [rule["id"] for rule in normalized_rules]
    if len(ids) != len(set(ids)):
        errors.add("rules", "Rule ids must be unique.")
    serve = normalize_serve(default_serve, variant_keys, "default_serve", errors)
    if not isinstance(bucket_by, str) or not bucket_by:
        errors.add("bucket_by", 'Name the context attribute to bucket by (usually "key").')
    errors.raise_if_any()
    return {"targets": normalized_targets, "rules": normalized_rules, "default_serve": serve, "bucket_by": bucket_by}


def _validate_targets(targets: Any, variant_keys: list[str], errors: _Errors) -> list[dict]:
    if not isinstance(targets, list):
        errors.add("targets", 'Targets are a list of {"variant": key, "keys": [...]}.')
        return []
    normalized, owner = [], {}
    for index, target in enumerate(targets):
        path = _join("targets", index)
        if not isinstance(target, dict) or set(target) != {"variant", "keys"}:
            errors.add(path, 'A target is {"variant": key, "keys": [context keys]}.')
            continue
        if target["variant"] not in variant_keys:
            errors.add(_join(path, "variant"), f"Unknown variant {target['variant']!r}; known: {variant_keys}.")
        keys = target["keys"]
        if not isinstance(keys, list) or not all(isinstance(key, str) and key for key in keys):
            errors.add(_join(path, "keys"), "Keys are a list of non-empty strings.")
            continue
        for key in keys:
            if key in owner and owner[key] != target["variant"]:
                errors.add(_join(path, "keys"), f"{key!r} is already targeted to {owner[key]!r}.")
            owner[key] = target["variant"]
        normalized.append({"variant": target["variant"], "keys": sorted(set(keys))})
    return normalized


def validate_segment_rules(rules: Any, segment_keys: set[str]) -> list[dict]:
    errors = _Errors()
    if not isinstance(rules, list):
        errors.add("rules", 'Segment rules are a list of {"clauses": [...]}.')
        errors.raise_if_any()
    normalized = []
    for index, rule in enumerate(rules):
        path = _join("rules", index)
        if not isinstance(rule, dict) or set(rule) != {"clauses"}:
            errors.add(path, 'A segment rule is {"clauses": [...]}.')
            continue
        normalized.append(
            {"clauses": validate_rule_clauses(rule["clauses"], _join(path, "clauses"), errors, segment_keys)}
        )
    errors.raise_if_any()
    return normalized


def validate_key_list(name: str, keys: Any) -> list[str]:
    if not isinstance(keys, list) or not all(isinstance(key, str) and key for key in keys):
        raise TargetingError({name: ["A list of non-empty context keys."]})
    return sorted(set(keys))
