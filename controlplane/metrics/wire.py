"""A metrics batch as an SDK sends it (docs/metrics-wire-format.md), read from decoded JSON.

``read_batch`` checks the wire format's types and ``validation``'s rules in one pass and returns
the batch as plain values. Every problem is reported at once, keyed like the body
(``{"flags": {"3": {"latency_ms": {"bounds": ["…"]}}}}``), with the messages DRF's fields gave
when the API validated batches with serializers. An entry as the SDK sends it is recognised at
C speed first (``plain``), and read field by field only otherwise.

Lenient where the format says so: unknown keys are ignored; ``format`` defaults to 1, ``dropped``
to 0 and ``document_version`` to null; ``latency_ms`` and ``units`` may be left out.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from controlplane.metrics import plain, validation
from controlplane.metrics.batch import Batch, Entry, UnitGroups
from controlplane.metrics.errors import BatchError
from controlplane.metrics.plain import is_count, is_counts, is_plain_number, is_plain_text
from controlplane.metrics.validation import MAX_BOUNDS, MAX_KEY, MAX_NUMBER, MAX_SDK_NAME, MAX_SDK_VERSION
from flagplane.metrics import UNIT_GROUPS

__all__ = ["BATCH_ID", "Batch", "Entry", "Invalid", "UnitGroups", "read_batch"]  # the batch's types: from batch.py

Errors = dict[str, Any]
"""Per field: its messages (a list of str), or the ``Errors`` of an object or a list's items."""

REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
NOT_A_COUNT = "Must be a non-negative integer."
NOT_A_NUMBER = "Must be a finite non-negative number."
NOT_A_TIMESTAMP = 'Must be an RFC 3339 timestamp with a time zone, e.g. "2026-01-31T12:00:00.000Z".'
BATCH_ID = re.compile(r"^[0-9a-fA-F]{8,64}$")
_DECIMAL_ZEROS = re.compile(r"\.0*\s*$")  # "3.0" is the integer 3, as DRF's IntegerField reads it
_MISSING = object()
_INTS = frozenset({int})


class Invalid(Exception):
    """One field's problems: its messages, or the ``Errors`` of an object or a list."""

    def __init__(self, detail: list[str] | Errors):
        super().__init__(detail)
        self.detail = detail


def read_batch(data: Any, now: datetime, text: bytes | None = None, checked: bool = False) -> Batch:
    """The batch ``data`` (decoded JSON) holds, checked against the format and the rules at
    ``now``; ``BatchError`` with every problem, keyed like the body, otherwise. ``text``: the JSON
    ``data`` was decoded from, if at hand (its entries are then recognised faster, see ``plain``).
    ``checked``: this function accepted ``data`` at ``now`` before (the inbox parked it), so its
    entries' counts are not checked again (``plain.checked_entry``)."""
    if data is None:
        raise BatchError({"non_field_errors": ["No data provided"]})
    try:
        body = _object(data)
    except Invalid as exc:
        raise BatchError(exc.detail) from None
    errors: Errors = {}
    version = _field(body, "format", errors, _integer, default=1)
    sdk = _field(body, "sdk", errors, _sdk)
    batch_id = _field(body, "batch_id", errors, _batch_id)
    document_version = _field(body, "document_version", errors, _version, default=None, nullable=True)
    period = _field(body, "period", errors, lambda value: _period(value, now))
    unsigned = text is not None and plain.unsigned(text)
    entries = _field(body, "flags", errors, lambda value: _entries(value, unsigned, checked))
    dropped = _field(body, "dropped", errors, _count, default=0)
    if not errors:
        _rule(errors, validation.check_format, version, any(entry.units is not None for entry in entries))
    if errors:
        raise BatchError(errors)
    return Batch(version, sdk[0], sdk[1], batch_id, document_version, period[0], period[1], entries, dropped)


# ---------------------------------------------------------------------------------------------
# Objects: the batch's parts


def _sdk(value: Any) -> tuple[str, str]:
    data, errors = _object(value), {}
    name = _field(data, "name", errors, _text(MAX_SDK_NAME))
    version = _field(data, "version", errors, _text(MAX_SDK_VERSION))
    _raise_if_any(errors)
    return name, version


def _period(value: Any, now: datetime) -> tuple[datetime, datetime]:
    data, errors = _object(value), {}
    start = _field(data, "start", errors, _timestamp)
    end = _field(data, "end", errors, _timestamp)
    if not errors:
        _rule(errors, validation.check_period, start, end, now)
    _raise_if_any(errors)
    return start, end


def _entries(value: Any, unsigned: bool, checked: bool) -> list[Entry]:
    limit = settings.METRICS_MAX_ENTRIES
    if type(value) is list and len(value) > limit:
        raise Invalid([f"Too many entries: at most {limit} per batch, got {len(value)}."])
    return _items(value, functools.partial(_entry, unsigned=unsigned, checked=checked))


def _entry(value: Any, unsigned: bool, checked: bool) -> Entry:
    if type(value) is dict:
        as_sent = plain.checked_entry(value) if checked else plain.entry(value, unsigned)
        if as_sent is not None:
            return as_sent
    data, errors = _object(value), {}
    flag = _field(data, "flag", errors, _key)
    variant = _field(data, "variant", errors, _key)
    evaluations = _field(data, "evaluations", errors, _count)
    successes = _field(data, "successes", errors, _count)
    failures = _field(data, "errors", errors, _count)
    latency = _field(data, "latency_ms", errors, _latency, default=None)
    units = _field(data, "units", errors, _units, default=None)
    unit_counts = None
    if not errors and latency is not None:
        _rule(errors, validation.check_observations, latency["counts"], successes, failures)
    if not errors and units is not None:
        unit_counts = _rule(errors, validation.unit_latencies, units, latency, successes, failures)
    _raise_if_any(errors)
    groups = None
    if units is not None:
        groups = UnitGroups(units["group"], units["successes"], units["errors"], unit_counts)
    if latency is None:
        return Entry(flag, variant, evaluations, successes, failures, None, 0.0, groups)
    return Entry(flag, variant, evaluations, successes, failures, latency["standard"], latency["sum"], groups)


def _latency(value: Any) -> dict[str, Any]:
    data, errors = _object(value), {}
    bounds = _field(data, "bounds", errors, lambda value: _numbers(value, min_length=1, max_length=MAX_BOUNDS))
    counts = _field(data, "counts", errors, lambda value: _counts(value, min_length=1, max_length=MAX_BOUNDS + 1))
    total = _field(data, "sum", errors, _number)
    standard = _rule(errors, validation.standard_counts, bounds, counts) if not errors else None
    _raise_if_any(errors)
    return {"bounds": bounds, "counts": counts, "sum": total, "standard": standard}


def _units(value: Any) -> dict[str, Any]:
    data, errors = _object(value), {}
    units = {
        "groups": _field(data, "groups", errors, _integer),
        "group": _field(data, "group", errors, lambda value: _items(value, _integer, max_length=UNIT_GROUPS)),
        "successes": _field(data, "successes", errors, lambda value: _counts(value, max_length=UNIT_GROUPS)),
        "errors": _field(data, "errors", errors, lambda value: _counts(value, max_length=UNIT_GROUPS)),
        "latency_counts": _field(data, "latency_counts", errors, _unit_histograms),
    }
    if not errors:
        _rule(errors, validation.check_unit_groups, units)
    _raise_if_any(errors)
    return units


def _unit_histograms(value: Any) -> list[list[int]]:
    return _items(value, lambda item: _counts(item, max_length=MAX_BOUNDS + 1), max_length=UNIT_GROUPS)


# ---------------------------------------------------------------------------------------------
# Fields, objects and lists


def _field(data: dict, name: str, errors: Errors, read: Callable[[Any], Any], default: Any = _MISSING,
           nullable: bool = False) -> Any:  # fmt: skip
    """``read(data[name])``; its problem, or a missing or null value, goes to ``errors[name]``."""
    value = data.get(name, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            errors[name] = [REQUIRED]
        return default
    if value is None:
        if not nullable:
            errors[name] = [NOT_NULL]
        return None
    try:
        return read(value)
    except Invalid as exc:
        errors[name] = exc.detail
        return None


def _rule(errors: Errors, check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)`` (a ``validation`` rule), with the problems it raises added to ``errors``."""
    try:
        return check(*args)
    except BatchError as exc:
        for name, messages in exc.errors.items():
            errors.setdefault(name, []).extend(messages)
        return None


def _raise_if_any(errors: Errors) -> None:
    if errors:
        raise Invalid(errors)


def _object(value: Any) -> dict:
    if type(value) is not dict:
        raise Invalid({"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(value).__name__}."]})
    return value


def _items(value: Any, read: Callable[[Any], Any], min_length: int = 0, max_length: int | None = None) -> list:
    """A list of ``read`` items; each item's problem is keyed by its position."""
    if type(value) is not list:
        raise Invalid([f'Expected a list of items but got type "{type(value).__name__}".'])
    items, errors = [], {}
    for index, item in enumerate(value):
        if item is None:
            errors[str(index)] = [NOT_NULL]
            continue
        try:
            items.append(read(item))
        except Invalid as exc:
            errors[str(index)] = exc.detail
    _raise_if_any(errors)
    _check_length(items, min_length, max_length)
    return items


def _check_length(items: list, min_length: int, max_length: int | None) -> None:
    if len(items) < min_length:
        raise Invalid([f"Ensure this field has at least {min_length} elements."])
    if max_length is not None and len(items) > max_length:
        raise Invalid([f"Ensure this field has no more than {max_length} elements."])


def _counts(value: Any, min_length: int = 0, max_length: int | None = None) -> list[int]:
    """A list of counts; plain integers in range are checked without a loop in Python."""
    if is_counts(value):
        _check_length(value, min_length, max_length)
        return value
    return _items(value, _count, min_length, max_length)


def _numbers(value: Any, min_length: int = 0, max_length: int | None = None) -> list[float]:
    """A list of numbers, as floats; plain integers in range (the SDK's bounds) without a loop in
    Python (floats are checked one by one: ``min`` and ``max`` do not see a NaN)."""
    if (
        type(value) is list
        and value
        and set(map(type, value)) <= _INTS
        and min(value) >= 0
        and max(value) <= MAX_NUMBER
    ):
        _check_length(value, min_length, max_length)
        return list(map(float, value))
    return _items(value, _number, min_length, max_length)


# ---------------------------------------------------------------------------------------------
# Scalars


def _count(value: Any) -> int:
    """A non-negative JSON integer (not a bool, a float or a numeric string)."""
    if is_count(value):
        return value
    if type(value) is not int:
        raise Invalid([NOT_A_COUNT])
    if value < 0:
        raise Invalid(["Must not be negative."])
    raise Invalid(["Is too large."])


def _number(value: Any) -> float:
    """A finite, non-negative JSON number."""
    if is_plain_number(value):
        return float(value)
    if type(value) is int:  # compared as an int: a huge one does not fit a float
        if value < 0:
            raise Invalid([NOT_A_NUMBER])
    elif type(value) is not float or not math.isfinite(value) or value < 0:
        raise Invalid([NOT_A_NUMBER])
    if value > MAX_NUMBER:
        raise Invalid(["Is too large."])
    return float(value)


def _integer(value: Any) -> int:
    """An integer as DRF's IntegerField reads one: ``3``, ``3.0`` or ``"3"``."""
    if type(value) is int:
        return value
    if type(value) is str and len(value) > 1000:
        raise Invalid(["String value too large."])
    try:
        return int(_DECIMAL_ZEROS.sub("", str(value)))
    except ValueError:
        raise Invalid(["A valid integer is required."]) from None


def _version(value: Any) -> int:
    number = _integer(value)
    if number < 0:
        raise Invalid(["Ensure this value is greater than or equal to 0."])
    return number


def _text(
    max_length: int | None, pattern: re.Pattern[str] | None = None, invalid: str = "Not a valid string."
) -> Callable[[Any], str]:
    """A string as DRF's CharField (a RegexField with ``pattern``) reads one: numbers become
    text, whitespace is trimmed; ``invalid`` for a value of another type or off the pattern."""

    def read(value: Any) -> str:
        if is_plain_text(value, max_length) and (pattern is None or pattern.match(value)):
            return value
        if type(value) is str:
            text = value.strip()
        elif type(value) in (int, float):
            text = str(value)
        else:
            raise Invalid([invalid])
        if not text:
            raise Invalid(["This field may not be blank."])
        too_long = max_length is not None and len(text) > max_length
        off_pattern = pattern is not None and not pattern.match(text)
        if not too_long and not off_pattern and text.isascii() and "\x00" not in text:
            return text
        problems = []
        if too_long:
            problems.append(f"Ensure this field has no more than {max_length} characters.")
        if "\x00" in text:
            problems.append("Null characters are not allowed.")
        surrogate = next((ord(c) for c in text if 0xD800 <= ord(c) <= 0xDFFF), None)
        if surrogate is not None:
            problems.append(f"Surrogate characters are not allowed: U+{surrogate:X}.")
        if off_pattern:
            problems.append(invalid)
        if problems:
            raise Invalid(problems)
        return text

    return read


_key = _text(MAX_KEY)
_hex_id = _text(None, BATCH_ID, "Must be 8 to 64 hexadecimal characters (e.g. uuid4().hex).")


def _batch_id(value: Any) -> str:
    return _hex_id(value).lower()


def _timestamp(value: Any) -> datetime:
    """An RFC 3339 timestamp with an explicit offset ("…Z" or "…+02:00"), as aware UTC."""
    if type(value) is not str:
        raise Invalid([NOT_A_TIMESTAMP])
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value.upper():
        raise Invalid([NOT_A_TIMESTAMP])
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is past the year 9999 in UTC
        raise Invalid([NOT_A_TIMESTAMP]) from None
