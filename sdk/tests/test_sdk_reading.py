"""A received document is compiled one flag at a time, to what the whole parsed document gives."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from flagplane.engine import compile_document, evaluate
from flagplane.errors import InvalidDocument
from flagplane.sync import compile_body


def body(document: Any, **dumps: Any) -> bytes:
    return json.dumps(document, sort_keys=True, **dumps).encode()


def test_the_same_snapshot_whatever_the_layout(golden_document: dict[str, Any]) -> None:
    compact = compile_body(body(golden_document, separators=(",", ":")))
    spaced = compile_body(body(golden_document, indent=2).replace(b"\n", b"\r\n"))
    segments_first = compile_body(json.dumps({"segments": golden_document.pop("segments"),
                                              **golden_document}).encode())  # fmt: skip
    for snapshot in (spaced, segments_first):
        assert set(snapshot.flags) == set(compact.flags)
        assert set(snapshot.segments) == set(compact.segments)
        assert (snapshot.version, snapshot.project) == (compact.version, compact.project)
    context = {"key": "user-1", "email": "a@example.com"}
    for key in compact.flags:
        expected = evaluate(compact, key, context)
        assert evaluate(spaced, key, context) == evaluate(segments_first, key, context) == expected


@pytest.mark.parametrize(
    "text",
    [b"", b"{", b'{"flags": {"a": }}', b'{"flags": {}} x', b"{'flags': 1}", b'{"flags" {}}'],
)
def test_text_that_is_not_json_is_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        compile_body(text)


def test_a_body_that_is_not_an_object_is_an_invalid_document() -> None:
    with pytest.raises(InvalidDocument):
        compile_body(b"[1, 2]")


def test_the_schema_version_is_checked_before_the_flags(golden_document: dict[str, Any]) -> None:
    golden_document["schema_version"] = 2
    golden_document["flags"]["op-in"]["kind"] = "from the future"
    with pytest.raises(InvalidDocument) as info:
        compile_body(body(golden_document))
    assert info.value.path == "schema_version"


def test_an_unknown_segment_names_the_clause(golden_document: dict[str, Any]) -> None:
    clause = golden_document["flags"]["op-in_segment"]["rules"][0]["clauses"][0]
    clause["values"] = ["ghosts"]
    with pytest.raises(InvalidDocument) as info:
        compile_body(body(golden_document))
    assert info.value.path == 'flags["op-in_segment"].rules[0].clauses[0].values[0]'


def test_flags_that_are_not_an_object_are_reported_before_a_broken_segment(
    golden_document: dict[str, Any],
) -> None:
    golden_document["flags"] = []
    golden_document["segments"]["staff"]["rules"] = [
        {"clauses": [{"attribute": "a", "op": "?", "values": [1]}]}
    ]
    with pytest.raises(InvalidDocument) as parsed:
        compile_document(golden_document)
    with pytest.raises(InvalidDocument) as received:
        compile_body(body(golden_document))
    assert received.value.path == parsed.value.path == "flags"


BROKEN_RULE = {"id": "broken", "clauses": [{"attribute": "a", "op": "?", "values": [1]}],
               "serve": {"variant": "on"}}  # fmt: skip


def first_problem(text: bytes) -> tuple[str, str]:
    """(path, what) of the InvalidDocument that both ways of compiling a received body name."""
    with pytest.raises(InvalidDocument) as parsed:
        compile_document(json.loads(text))
    with pytest.raises(InvalidDocument) as received:
        compile_body(text)
    assert (received.value.path, str(received.value)) == (parsed.value.path, str(parsed.value))
    return received.value.path, str(received.value)


def test_an_unknown_segment_is_reported_before_a_later_flags_error(
    golden_document: dict[str, Any],
) -> None:
    golden_document["flags"]["op-in_segment"]["rules"][0]["clauses"][0]["values"] = ["ghosts"]
    golden_document["flags"]["rollout"]["rules"] = [BROKEN_RULE]
    path, _ = first_problem(body(golden_document))
    assert path == 'flags["op-in_segment"].rules[0].clauses[0].values[0]'


def test_an_unknown_segment_is_reported_before_a_later_rules_error(
    golden_document: dict[str, Any],
) -> None:
    rules = golden_document["flags"]["op-in_segment"]["rules"]
    rules[0]["clauses"][0]["values"] = ["ghosts"]
    rules.append(BROKEN_RULE)
    path, _ = first_problem(body(golden_document))
    assert path == 'flags["op-in_segment"].rules[0].clauses[0].values[0]'


def test_a_later_error_is_reported_after_a_known_segment(golden_document: dict[str, Any]) -> None:
    golden_document["flags"]["rollout"]["rules"] = [BROKEN_RULE]
    path, _ = first_problem(body(golden_document))
    assert path == 'flags["rollout"].rules[0].clauses[0].op'


def test_flags_a_repeated_key_replaces_are_not_checked(golden_document: dict[str, Any]) -> None:
    ghost = copy.deepcopy(golden_document["flags"]["op-in_segment"])
    ghost["rules"][0]["clauses"][0]["values"] = ["ghosts"]
    replaced = json.dumps({"flags": {"op-in_segment": ghost}})[:-1]  # the first "flags" member
    text = f"{replaced}, {body(golden_document).decode()[1:]}".encode()
    assert set(compile_body(text).flags) == set(compile_document(json.loads(text)).flags)
