"""The engine reproduces docs/golden/evaluation.json: every operator, targets, rules, splits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flagplane import Client
from flagplane.engine import OPERATORS, compile_document, evaluate, evaluate_flag
from flagplane.sync import compile_body

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[2] / "docs/golden/evaluation.json").read_text("utf-8")
)
CASES = GOLDEN["cases"]
SNAPSHOT = compile_document(GOLDEN["document"])
# As received: canonical JSON (sorted keys, so the segments after the flags that use them),
# compiled one flag at a time.
RECEIVED = compile_body(json.dumps(GOLDEN["document"], sort_keys=True).encode())


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['flag']}:{json.dumps(case['context'], ensure_ascii=False)}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_evaluate_matches_golden(case: dict[str, Any]) -> None:
    result = evaluate(SNAPSHOT, case["flag"], case["context"])
    assert result._asdict() == case["expected"]
    assert evaluate(RECEIVED, case["flag"], case["context"])._asdict() == case["expected"]


CLIENT = Client.from_document(GOLDEN["document"])


def _contexts(case: dict[str, Any]) -> list[Any]:
    """The case's context, and the plain string it stands for when it is only a key."""
    context = case["context"]
    if set(context) == {"key"} and isinstance(context["key"], str):
        return [context, context["key"]]
    return [context]


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_every_client_entry_point_matches_golden(case: dict[str, Any]) -> None:
    """The client's own paths (is_enabled, variant, evaluate), not only the engine's, with a
    dict context and, where the context is only a key, the same key as a plain string."""
    expected = case["expected"]
    flag = GOLDEN["document"]["flags"].get(case["flag"])
    for context in _contexts(case):
        assert CLIENT.evaluate(case["flag"], context)._asdict() == expected
        assert CLIENT.variant(case["flag"], context) == expected["value"]
        if flag is not None and flag["variant_type"] == "boolean":
            for default in (False, True):
                assert CLIENT.is_enabled(case["flag"], context, default) is expected["value"]
        else:  # unknown or not boolean: the caller's default
            for default in (False, True):
                assert CLIENT.is_enabled(case["flag"], context, default) is default


FLAG_CASES = [c for c in CASES if c["flag"] in GOLDEN["document"]["flags"]]


@pytest.mark.parametrize("case", FLAG_CASES, ids=[_case_id(c) for c in FLAG_CASES])
def test_evaluate_flag_matches_golden(case: dict[str, Any]) -> None:
    flag = GOLDEN["document"]["flags"][case["flag"]]
    result = evaluate_flag(flag, case["context"], GOLDEN["document"]["segments"])
    assert result._asdict() == case["expected"]


def test_golden_document_exercises_every_operator() -> None:
    used = {
        clause["op"]
        for flag in GOLDEN["document"]["flags"].values()
        for rule in flag["rules"]
        for clause in rule["clauses"]
    }
    assert used == OPERATORS


def test_golden_covers_every_reason_an_engine_can_give() -> None:
    reasons = {case["expected"]["reason"] for case in CASES}
    assert reasons == {"OFF", "TARGET", "RULE_MATCH", "SPLIT", "DEFAULT", "FLAG_NOT_FOUND"}


@pytest.mark.parametrize("attribute", [("US", "FR"), {"US", "FR"}, frozenset({"FR"})])
def test_python_sequences_count_as_list_attributes(attribute: Any) -> None:
    result = evaluate(SNAPSHOT, "op-in", {"key": "u", "country": attribute})
    assert result.reason == "RULE_MATCH"


def test_evaluate_flag_accepts_no_segments_for_a_flag_without_segment_clauses() -> None:
    flag = GOLDEN["document"]["flags"]["op-in"]
    assert evaluate_flag(flag, {"country": "DE"}, None).reason == "RULE_MATCH"


def test_golden_files_are_what_the_generator_produces() -> None:
    import importlib.util

    path = Path(__file__).with_name("generate_golden.py")
    spec = importlib.util.spec_from_file_location("generate_golden", path)
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    on_disk = json.loads(json.dumps(generator.evaluation_golden()))  # tuples -> lists etc.
    assert on_disk == GOLDEN
    buckets = json.loads((generator.GOLDEN / "bucketing.json").read_text("utf-8"))
    assert json.loads(json.dumps(generator.bucketing_cases())) == buckets["cases"]


def test_int_and_str_subclasses_compare_like_their_base_types() -> None:
    import enum

    class Seats(enum.IntEnum):
        SEVEN = 7

    class Country(enum.StrEnum):
        DE = "DE"

    assert evaluate(SNAPSHOT, "op-in", {"key": "u", "country": Seats.SEVEN}).reason == "RULE_MATCH"
    assert evaluate(SNAPSHOT, "op-in", {"key": "u", "country": Country.DE}).reason == "RULE_MATCH"
