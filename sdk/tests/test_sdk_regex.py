"""Regex clauses cannot hang the caller: RE2 in time linear in a bounded input, or no match at all.

The corpus (docs/golden/redos.json) holds patterns that take exponential time in a backtracking
engine; every one the control plane can accept (an RE2 program of at most MAX_PROGRAM_SIZE
instructions) is evaluated through ``Client.is_enabled`` against adversarial inputs filled to the
input bound, and must answer within a millisecond (``bench/regex_redos.py`` prints the figures).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from flagplane import Client, regex
from flagplane.engine import InvalidDocument, compile_document

CORPUS = json.loads(
    (Path(__file__).resolve().parents[2] / "docs/golden/redos.json").read_text("utf-8")
)
BUDGET_S = 0.001


def document(*patterns: str, negate: bool = False) -> dict[str, Any]:
    """Flags ``regex-0``, ``regex-1``...: on for a context whose ``ref`` matches the pattern."""
    flags = {}
    for index, pattern in enumerate(patterns):
        key = f"regex-{index}"
        clause = {
            "attribute": "ref",
            "op": "regex",
            "values": [pattern],
            "negate": negate,
            "case_insensitive": False,
        }
        flags[key] = {
            "key": key,
            "kind": "boolean",
            "variant_type": "boolean",
            "version": 1,
            "on": True,
            "salt": key,
            "bucket_by": "key",
            "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
            "off_variant": "off",
            "targets": [],
            "rules": [
                {"id": "r", "description": "", "clauses": [clause], "serve": {"variant": "on"}}
            ],
            "default": {"variant": "off"},
        }
    return {
        "schema_version": 1,
        "project": "web",
        "environment": "production",
        "version": 1,
        "flags": flags,
        "segments": {},
    }


def adversarial(unit: str, suffix: str) -> str:
    """``unit`` repeated, then ``suffix``, as long as fits in MAX_INPUT_BYTES bytes of UTF-8."""
    text = ""
    while len((text + unit + suffix).encode()) <= regex.MAX_INPUT_BYTES:
        text += unit
    return text + suffix


INPUTS = [adversarial(case["unit"], case["suffix"]) for case in CORPUS["inputs"]]


def _acceptable(pattern: str) -> bool:
    try:
        return regex.compile_pattern(pattern).programsize <= regex.MAX_PROGRAM_SIZE
    except regex.RegexError:
        return False


ACCEPTABLE = [case["pattern"] for case in CORPUS["patterns"] if _acceptable(case["pattern"])]


def test_the_corpus_has_patterns_of_both_kinds() -> None:
    assert "^(a|a)*$" in ACCEPTABLE  # the issue's pattern: linear in RE2, accepted
    assert len(ACCEPTABLE) >= 15
    assert len(CORPUS["patterns"]) - len(ACCEPTABLE) >= 10
    assert all(len(text.encode()) <= regex.MAX_INPUT_BYTES for text in INPUTS)


@pytest.mark.parametrize("pattern", ACCEPTABLE)
def test_an_acceptable_catastrophic_pattern_answers_within_a_millisecond(pattern: str) -> None:
    client = Client.from_document(document(pattern))
    for text in INPUTS:
        fastest = float("inf")
        for _ in range(5):  # the fastest of five: a busy machine delays some runs, never all
            started = time.perf_counter()
            client.is_enabled("regex-0", {"key": "u", "ref": text}, default=False)
            fastest = min(fastest, time.perf_counter() - started)
        assert fastest < BUDGET_S, f"{pattern!r} took {fastest * 1000:.2f} ms on {text[:20]!r}…"


def test_the_issues_pattern_no_longer_blocks_the_caller() -> None:
    client = Client.from_document(document("^(a|a)*$"))
    started = time.perf_counter()
    assert client.is_enabled("regex-0", {"key": "u", "ref": "a" * 26 + "!"}, default=True) is False
    assert client.is_enabled("regex-0", {"key": "u", "ref": "a" * 26}, default=False) is True
    assert time.perf_counter() - started < 0.1  # a backtracking engine took 8.8 s here


@pytest.mark.parametrize("pattern", [r"(a*)*\1", r"(?=a)b", r"(?>a+)b", r"a++", r"\Z"])
def test_a_pattern_re2_does_not_accept_makes_the_document_invalid(pattern: str) -> None:
    with pytest.raises(InvalidDocument, match=r"rules\[0\]\.clauses\[0\]\.values\[0\]: bad regex"):
        compile_document(document(pattern))


def test_an_attribute_longer_than_the_bound_never_matches_even_negated() -> None:
    client = Client.from_document(document("^r"))
    assert client.is_enabled("regex-0", {"key": "u", "ref": "r" * regex.MAX_INPUT_BYTES}) is True
    assert (
        client.is_enabled("regex-0", {"key": "u", "ref": "r" * (regex.MAX_INPUT_BYTES + 1)})
        is False
    )
    negated = Client.from_document(document("^x", negate=True))
    assert negated.is_enabled("regex-0", {"key": "u", "ref": "r" * regex.MAX_INPUT_BYTES}) is True
    assert (
        negated.is_enabled("regex-0", {"key": "u", "ref": "r" * (regex.MAX_INPUT_BYTES + 1)})
        is False
    )


def test_a_lone_surrogate_in_an_attribute_is_read_not_raised() -> None:
    client = Client.from_document(document("^a"))
    assert client.is_enabled("regex-0", {"key": "u", "ref": "a\ud800"}) is True


def test_without_google_re2_regex_clauses_never_match_and_one_warning_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(regex, "_re2", None)
    monkeypatch.setattr(regex, "_warned_unavailable", False)
    caplog.set_level(logging.WARNING, logger="flagplane")
    client = Client.from_document(document("^(a|a)*$"))
    negated = Client.from_document(
        document("^x", negate=True)
    )  # a second document: no second warning
    assert client.is_enabled("regex-0", {"key": "u", "ref": "aaaa"}, default=True) is False
    assert negated.is_enabled("regex-0", {"key": "u", "ref": "aaaa"}, default=True) is False
    warnings = [r.getMessage() for r in caplog.records if "google-re2" in r.getMessage()]
    assert len(warnings) == 1
    assert "regex clauses never match" in warnings[0]
