"""Entries of a metrics batch as the SDK sends them, recognised in a few C-level calls each: plain
keys and counts, histograms over the standard bounds, plain unit groups. Read field by field
(``wire``), an entry of 16 unit groups, some 300 counts, takes about 0.2 ms; a batch may hold
10,000 of them.

``wire.read_batch`` tries each entry here first and reads it field by field only when ``entry``
returns None: these checks accept part of what the field readers accept, and read it to the
same values (tests/metrics/test_plain_entries.py compares them).

A list of counts is recognised by its sum when the batch's text is ``unsigned`` (no minus sign,
``true`` or ``false`` outside its strings): every number in it is then non-negative and no value
is a bool, so a list whose ``sum`` is an int holds non-negative integers only (``sum`` raises for
a string, a list, an object or a null, and is a float once a float is added), none of them above
the sum: one C call for the items' types, their range and the total a rule needs. Otherwise each
list's types and extremes are looked at too (``is_counts``).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from controlplane.metrics import validation
from controlplane.metrics.batch import Entry, UnitGroups
from controlplane.metrics.histogram import HISTOGRAM_SIZE, STANDARD_BOUNDS_MS
from controlplane.metrics.validation import MAX_COUNT, MAX_KEY, MAX_NUMBER

_MISSING = object()
_INTS = frozenset({int})
_STANDARD_LENGTH = frozenset({HISTOGRAM_SIZE})
_STANDARD_BOUNDS = list(STANDARD_BOUNDS_MS)
_COUNTS = range(MAX_COUNT + 1)
"""What a count may be: ``value in _COUNTS`` is arithmetic for an int."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_STRINGS_ONLY = re.compile(rb'(?:"[^"]*")*+')
_NOT_MARKS = bytes(set(range(256)) - set(b'"-tf'))


def unsigned(text: bytes) -> bool:
    """Whether JSON ``text`` (valid) holds no minus sign and neither ``true`` nor ``false`` outside
    its strings (what ``counts_total`` may then rely on): 5 ms for 8 MiB, in C over bytes.

    Of the text, the quotes and the bytes looked for are kept (no byte of a multi-byte UTF-8
    character is ASCII) and pairs of adjacent quotes dropped: that removes an empty string or
    joins two strings, so a byte looked for is still outside strings exactly if it was, and there
    is none if what is left is strings alone. With escapes, strings are matched as JSON's."""
    if b"\\" in text:
        outside = _STRING.sub(b"", text)
        return b"-" not in outside and b"t" not in outside and b"f" not in outside
    return _STRINGS_ONLY.fullmatch(text.translate(None, _NOT_MARKS).replace(b'""', b"")) is not None


def entry(data: dict, unsigned: bool) -> Entry | None:
    """The entry ``data`` if it is as the SDK sends it, checked (the rules too: ``validation``'s
    fast forms); None for anything else. ``unsigned``: the batch's text is (``unsigned``)."""
    flag, variant = data.get("flag"), data.get("variant")
    evaluations, successes, failures = data.get("evaluations"), data.get("successes"), data.get("errors")
    if not (
        is_plain_text(flag, MAX_KEY)
        and is_plain_text(variant, MAX_KEY)
        and is_count(evaluations)
        and is_count(successes)
        and is_count(failures)
    ):
        return None
    latency, units = data.get("latency_ms", _MISSING), data.get("units", _MISSING)
    if latency is _MISSING and units is _MISSING:
        return Entry(flag, variant, evaluations, successes, failures, None, 0.0, None)
    if type(latency) is not dict:
        return None
    bounds, counts, total = latency.get("bounds"), latency.get("counts"), latency.get("sum")
    if not (
        bounds == _STANDARD_BOUNDS  # as numbers: the field readers read them as floats
        and (unsigned or set(map(type, bounds)) <= _INTS)  # no bool (True == 1)
        and (observed := counts_total(counts, unsigned)) is not None
        and len(counts) == HISTOGRAM_SIZE
        and validation.observations_fit(observed, successes, failures)
        and is_plain_number(total)
    ):
        return None
    groups = None if units is _MISSING else _units(units, successes, failures, unsigned)
    if groups is None and units is not _MISSING:
        return None
    return Entry(flag, variant, evaluations, successes, failures, counts, float(total), groups)


def checked_entry(data: dict) -> Entry | None:
    """An entry ``wire.read_batch`` accepted before (``entry`` or the field readers did), read
    again without checking its counts or rules: only what the field readers would change is
    looked at (keys to trim, bounds to map onto the standard ones, groups given as text); None
    for such an entry, which the field readers then read again."""
    flag, variant, latency, units = data.get("flag"), data.get("variant"), data.get("latency_ms"), data.get("units")
    if not (is_plain_text(flag, MAX_KEY) and is_plain_text(variant, MAX_KEY)):
        return None
    if latency is None:
        return None if units is not None else Entry(flag, variant, data["evaluations"], data["successes"],
                                                    data["errors"], None, 0.0, None)  # fmt: skip
    if type(latency) is not dict or latency.get("bounds") != _STANDARD_BOUNDS:
        return None
    groups = None
    if units is not None:
        group = units.get("group") if type(units) is dict else None
        if type(group) is not list or not set(map(type, group)) <= _INTS:
            return None
        groups = UnitGroups(group, units["successes"], units["errors"], units["latency_counts"])
    return Entry(flag, variant, data["evaluations"], data["successes"], data["errors"], latency["counts"],
                 float(latency["sum"]), groups)  # fmt: skip


def _units(data: Any, successes: int, errors: int, unsigned: bool) -> UnitGroups | None:
    """An entry's unit groups as the SDK sends them (histograms over the standard bounds, which
    are its entry's), checked; None for anything else."""
    if type(data) is not dict:
        return None
    group, histograms = data.get("group"), data.get("latency_counts")
    if not (
        type(data.get("groups")) is int
        and counts_total(group, unsigned) is not None
        and counts_total(data.get("successes"), unsigned) is not None
        and counts_total(data.get("errors"), unsigned) is not None
        and (observed := histogram_totals(histograms, unsigned)) is not None
        and validation.unit_groups_fit(data, observed, successes, errors)
    ):
        return None
    return UnitGroups(group, data["successes"], data["errors"], histograms)


def counts_total(value: Any, unsigned: bool) -> int | None:
    """The sum of ``value`` if it is a list of counts (``is_count`` each) whose sum is one too;
    None otherwise."""
    if type(value) is not list or not (unsigned or is_counts(value)):
        return None
    try:
        total = sum(value)
    except TypeError:
        return None
    return total if type(total) is int and total <= MAX_COUNT else None


def histogram_totals(value: Any, unsigned: bool) -> list[int] | None:
    """Each histogram's total if ``value`` is a list of histograms over the standard bounds (of
    counts) whose totals add up to a count; None otherwise. (An item of that length that is not a
    list is a string or an object, whose sum raises: JSON's keys are strings.)"""
    if type(value) is not list:
        return None
    try:
        lengths = set(map(len, value))
        if not (lengths <= _STANDARD_LENGTH and (unsigned or is_counts(list(itertools.chain.from_iterable(value))))):
            return None
        totals = list(map(sum, value))
    except TypeError:
        return None
    total = sum(totals)
    return totals if type(total) is int and total <= MAX_COUNT else None


def is_count(value: Any) -> bool:
    """A non-negative JSON integer in range (not a bool, a float or a numeric string)."""
    return type(value) is int and value in _COUNTS


def is_counts(value: Any) -> bool:
    """A list of counts (``is_count`` of each, in a few C-level calls)."""
    return (
        type(value) is list
        and set(map(type, value)) <= _INTS
        and (not value or (min(value) in _COUNTS and max(value) in _COUNTS))
    )


def is_plain_number(value: Any) -> bool:
    """An integer or a float in range (a NaN is not: it compares false)."""
    return type(value) in (int, float) and 0 <= value <= MAX_NUMBER


def is_plain_text(value: Any, max_length: int | None) -> bool:
    """A string ``wire._text`` returns as it is: not blank, trimmed, not too long, ASCII without
    NUL (other strings are read by ``_text`` one check at a time)."""
    return (
        type(value) is str
        and 0 < len(value) <= (max_length or len(value))
        and value.isascii()
        and value.strip() == value
        and "\x00" not in value
    )
