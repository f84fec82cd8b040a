"""Clause operators: each clause is compiled once into a ``Matcher`` closure.

Semantics (docs/sdk-document.md):

* A clause matches when the attribute satisfies the operator against ANY of its values
  (``not_in`` is exactly ``in`` negated). A list attribute matches when any element does.
* A missing (absent or null) attribute, or one that does not convert for the operator, makes the
  clause false whatever ``negate`` says. For a list, unconvertible elements are ignored and the
  list counts as missing when no element converts.
* ``negate`` inverts the result only when the attribute is present and convertible.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flagplane.conversions import to_epoch_ms, to_ip, to_network, to_number, to_semver
from flagplane.errors import InvalidDocument
from flagplane.regex import RegexError, regex_converter, search_test

Context = Mapping[str, Any]
Matcher = Callable[[Context], bool]
Converter = Callable[[Any], Any]
Test = Callable[[Any], bool]

OPERATOR_ORDER: tuple[str, ...] = (
    "in", "not_in", "equals", "starts_with", "ends_with", "contains", "regex",
    "num_lt", "num_lte", "num_gt", "num_gte", "num_eq",
    "semver_lt", "semver_lte", "semver_gt", "semver_gte", "semver_eq",
    "date_before", "date_after", "in_cidr", "in_segment",
)  # fmt: skip
"""Every operator name of schema_version 1, in the order of docs/sdk-document.md."""

STRING_OPERATORS: frozenset[str] = frozenset(
    {"in", "not_in", "equals", "starts_with", "ends_with", "contains", "regex"}
)
NUMBER_OPERATORS: frozenset[str] = frozenset({"num_lt", "num_lte", "num_gt", "num_gte", "num_eq"})
SEMVER_OPERATORS: frozenset[str] = frozenset(
    {"semver_lt", "semver_lte", "semver_gt", "semver_gte", "semver_eq"}
)
DATE_OPERATORS: frozenset[str] = frozenset({"date_before", "date_after"})
OPERATORS: frozenset[str] = frozenset(OPERATOR_ORDER)
"""Every operator name of schema_version 1."""

_SEQUENCES = (list, tuple, set, frozenset)
"""Attribute types treated as "a list": any element satisfying the operator counts."""

SegmentResolver = Callable[[str, str], Matcher]
"""(segment key, path for errors) -> the compiled membership test of that segment."""


def _scalar_key(value: Any) -> Any:
    """Equality key for in/not_in/equals: strings as themselves, true != 1, 1 == 1.0."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return ("bool", bool(value))
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return ("num", value)
    return None


def _folded_scalar_key(value: Any) -> Any:
    if value.__class__ is str:
        return value.casefold()
    return _scalar_key(value)


def _json_number(value: Any) -> int | float | None:
    """A clause value for num_*: a JSON number (numeric strings are for attributes only)."""
    return None if value.__class__ is str else to_number(value)


def _string(value: Any) -> str | None:
    return str(value) if isinstance(value, str) else None


def _folded_string(value: Any) -> str | None:
    return str(value).casefold() if isinstance(value, str) else None


def _build_matcher(attribute: str, convert: Converter, test: Test, negate: bool) -> Matcher:
    """The shared missing/convert/list/negate logic around one operator test."""

    def match(context: Context) -> bool:
        raw = context.get(attribute)
        if raw is None:
            return False
        if raw.__class__ in _SEQUENCES:
            present = False
            for item in raw:
                value = convert(item)
                if value is None:
                    continue
                if test(value):
                    return not negate
                present = True
            return present and negate
        value = convert(raw)
        if value is None:
            return False
        return test(value) is not negate

    return match


def _build_string_matcher(
    attribute: str, convert: Converter, test: Test, negate: bool, string_test: Test
) -> Matcher:
    """``_build_matcher`` with a shortcut for the common case of a plain string attribute;
    ``string_test(raw)`` must equal ``test(convert(raw))`` for any str."""
    general = _build_matcher(attribute, convert, test, negate)

    def match(context: Context) -> bool:
        raw = context.get(attribute)
        if raw.__class__ is str:
            return string_test(raw) is not negate
        return general(context)

    return match


def _string_values(values: Sequence[Any], path: str) -> list[str]:
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidDocument(f"{path}.values[{index}]", "must be a string for this operator")
    return list(values)


def _converted_values(
    values: Sequence[Any], path: str, convert: Converter, expected: str
) -> list[Any]:
    out = []
    for index, value in enumerate(values):
        converted = convert(value)
        if converted is None:
            raise InvalidDocument(f"{path}.values[{index}]", f"must be {expected}, got {value!r}")
        out.append(converted)
    return out


def _ordering_test(op_suffix: str, keys: list[Any]) -> Test:
    """lt/lte/gt/gte/eq against ANY value reduce to one comparison with the loosest bound."""
    if op_suffix in ("lt", "before"):
        upper = max(keys)
        return lambda value: value < upper
    if op_suffix == "lte":
        upper = max(keys)
        return lambda value: value <= upper
    if op_suffix in ("gt", "after"):
        lower = min(keys)
        return lambda value: value > lower
    if op_suffix == "gte":
        lower = min(keys)
        return lambda value: value >= lower
    key_set = frozenset(keys)
    return lambda value: value in key_set


def _cidr_test(networks: list[tuple[int, int, int]]) -> Test:
    def test(address: tuple[int, int]) -> bool:
        version, number = address
        for net_version, net_address, netmask in networks:
            if version == net_version and number & netmask == net_address:
                return True
        return False

    return test


def compile_clause(
    clause: Mapping[str, Any], path: str, resolve_segment: SegmentResolver
) -> Matcher:
    """Validate one clause and compile it into a matcher; InvalidDocument names the bad field."""
    if clause.__class__ is not dict and not isinstance(clause, Mapping):
        raise InvalidDocument(path, "must be an object")
    attribute = clause.get("attribute")
    op = clause.get("op")
    values = clause.get("values")
    negate = clause.get("negate", False)
    case_insensitive = clause.get("case_insensitive", False)
    if not isinstance(attribute, str) or not attribute:
        raise InvalidDocument(f"{path}.attribute", "must be a non-empty string")
    if not isinstance(op, str) or op not in OPERATORS:
        raise InvalidDocument(f"{path}.op", f"unknown operator {op!r}")
    if not isinstance(values, list) or not values:
        raise InvalidDocument(f"{path}.values", "must be a non-empty list")
    if not isinstance(negate, bool):
        raise InvalidDocument(f"{path}.negate", "must be a boolean")
    if not isinstance(case_insensitive, bool):
        raise InvalidDocument(f"{path}.case_insensitive", "must be a boolean")

    if op == "in_segment":
        segments = [
            resolve_segment(key, f"{path}.values[{i}]")
            for i, key in enumerate(_string_values(values, path))
        ]

        if len(segments) == 1 and not negate:
            return segments[0]  # the segment's own membership test: one call fewer

        def in_segment(context: Context) -> bool:
            for member in segments:
                if member(context):
                    return not negate
            return negate

        return in_segment

    if op in ("in", "not_in", "equals"):
        if op == "equals" and len(values) != 1:
            raise InvalidDocument(f"{path}.values", "equals takes exactly one value")
        key_of = _folded_scalar_key if case_insensitive else _scalar_key
        keys = set()
        for index, value in enumerate(values):
            key = key_of(value)
            if key is None:
                raise InvalidDocument(
                    f"{path}.values[{index}]", "must be a string, number or boolean"
                )
            keys.add(key)
        frozen = frozenset(keys)
        negated = negate ^ (op == "not_in")
        if case_insensitive:
            return _build_string_matcher(
                attribute,
                key_of,
                frozen.__contains__,
                negated,
                lambda value: value.casefold() in frozen,
            )
        general = _build_matcher(attribute, key_of, frozen.__contains__, negated)

        def in_values(context: Context) -> bool:  # the hottest operator: fully inlined
            raw = context.get(attribute)
            if raw.__class__ is str:
                return (raw in frozen) is not negated
            return general(context)

        return in_values

    if op == "regex":
        try:
            search = search_test(_string_values(values, path), case_insensitive)
        except RegexError as exc:
            raise InvalidDocument(f"{path}.values[{exc.index}]", f"bad regex: {exc}") from None
        return _build_matcher(attribute, regex_converter(), search, negate)

    if op in ("starts_with", "ends_with", "contains"):
        strings = _string_values(values, path)
        convert: Converter = _folded_string if case_insensitive else _string
        if case_insensitive:
            strings = [s.casefold() for s in strings]
        test: Test
        # methodcaller runs value.startswith(prefixes) etc. in C: cheaper than a lambda
        if op == "starts_with":
            test = operator.methodcaller("startswith", tuple(strings))
        elif op == "ends_with":
            test = operator.methodcaller("endswith", tuple(strings))
        elif len(strings) == 1:
            test = operator.methodcaller("__contains__", strings[0])
        else:
            needles = tuple(strings)
            test = lambda value: any(needle in value for needle in needles)  # noqa: E731
        if case_insensitive:
            folded_test = test
            return _build_string_matcher(
                attribute, convert, test, negate, lambda value: folded_test(value.casefold())
            )
        return _build_string_matcher(attribute, convert, test, negate, test)

    if op in NUMBER_OPERATORS:
        bounds = _converted_values(values, path, _json_number, "a number")
        return _build_matcher(attribute, to_number, _ordering_test(op[4:], bounds), negate)

    if op in SEMVER_OPERATORS:
        versions = _converted_values(values, path, to_semver, "a semantic version")
        return _build_matcher(attribute, to_semver, _ordering_test(op[7:], versions), negate)

    if op in DATE_OPERATORS:
        moments = _converted_values(values, path, to_epoch_ms, "epoch ms or an RFC 3339 date")
        return _build_matcher(attribute, to_epoch_ms, _ordering_test(op[5:], moments), negate)

    # in_cidr
    networks = _converted_values(values, path, to_network, "a CIDR network")
    return _build_matcher(attribute, to_ip, _cidr_test(networks), negate)
