"""Malformed documents are rejected with an InvalidDocument naming the bad field, and the
JSON Schema in docs/ agrees with the engine."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from flagplane.engine import InvalidDocument, compile_document, evaluate, evaluate_flag
from flagplane.sync import compile_body

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs/sdk-document.schema.json").read_text("utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

Mutation = Callable[[dict[str, Any]], Any]


def _set(path: list[Any], value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _delete(path: list[Any]) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


F = ["flags", "op-in"]
R = [*F, "rules", 0]
C = [*R, "clauses", 0]

# (mutation, substring the error path must contain)
MALFORMED: list[tuple[str, Mutation, str]] = [
    ("schema_version 2", _set(["schema_version"], 2), "schema_version"),
    ("schema_version missing", _delete(["schema_version"]), "schema_version"),
    ("version 0", _set(["version"], 0), "version"),
    ("flags not an object", _set(["flags"], []), "flags"),
    ("flag key mismatch", _set([*F, "key"], "other"), 'flags["op-in"].key'),
    ("unknown kind", _set([*F, "kind"], "percentage"), ".kind"),
    ("boolean kind with string type", _set([*F, "variant_type"], "string"), ".variant_type"),
    ("on is a string", _set([*F, "on"], "yes"), ".on"),
    ("no variants", _set([*F, "variants"], []), ".variants"),
    (
        "variant value of wrong type",
        _set([*F, "variants", 0, "value"], "true"),
        ".variants[0].value",
    ),
    ("duplicate variant", _set([*F, "variants", 1, "key"], "on"), ".variants[1].key"),
    ("unknown off_variant", _set([*F, "off_variant"], "nope"), ".off_variant"),
    (
        "target with unknown variant",
        _set([*F, "targets"], [{"variant": "x", "keys": []}]),
        ".targets[0].variant",
    ),
    (
        "target key not a string",
        _set([*F, "targets"], [{"variant": "on", "keys": [1]}]),
        ".targets[0].keys[0]",
    ),
    ("rule without id", _delete([*R, "id"]), ".rules[0].id"),
    ("unknown operator", _set([*C, "op"], "matches"), ".rules[0].clauses[0].op"),
    ("empty values", _set([*C, "values"], []), ".clauses[0].values"),
    ("negate not bool", _set([*C, "negate"], 1), ".clauses[0].negate"),
    (
        "bad regex",
        _set(["flags", "op-regex", "rules", 0, "clauses", 0, "values"], ["("]),
        "values[0]",
    ),
    (
        "bad semver value",
        _set(["flags", "op-semver_lt", "rules", 0, "clauses", 0, "values"], ["1.x"]),
        "values[0]",
    ),
    (
        "bad cidr value",
        _set(["flags", "op-in_cidr", "rules", 0, "clauses", 0, "values"], ["10.0.0.0/99"]),
        "values[0]",
    ),
    (
        "bad date value",
        _set(["flags", "op-date_after", "rules", 0, "clauses", 0, "values"], ["soon"]),
        "values[0]",
    ),
    (
        "string value for num op",
        _set(["flags", "op-num_lt", "rules", 0, "clauses", 0, "values"], ["10"]),
        "values[0]",
    ),
    (
        "equals with two values",
        _set(["flags", "op-equals", "rules", 0, "clauses", 0, "values"], ["a", "b"]),
        ".values",
    ),
    (
        "unknown segment",
        _set(["flags", "op-in_segment", "rules", 0, "clauses", 0, "values"], ["ghosts"]),
        "values[0]",
    ),
    ("serve both variant and split", _set([*R, "serve"], {"variant": "on", "split": []}), ".serve"),
    (
        "split weights not summing to 100000",
        _set([*F, "default"], {"split": [{"variant": "on", "weight": 50_000}]}),
        ".default.split",
    ),
    (
        "negative weight",
        _set(
            [*F, "default"],
            {"split": [{"variant": "on", "weight": -1}, {"variant": "off", "weight": 100_001}]},
        ),
        ".split[0].weight",
    ),
    (
        "float weight",
        _set(
            [*F, "default"],
            {
                "split": [
                    {"variant": "on", "weight": 50_000.5},
                    {"variant": "off", "weight": 49_999.5},
                ]
            },
        ),
        ".split[0].weight",
    ),
    ("default missing", _delete([*F, "default"]), ".default"),
    ("metadata not an object", _set([*F, "metadata"], ["team"]), ".metadata"),
    ("metadata value an object", _set([*F, "metadata"], {"team": {"a": 1}}), ".metadata.team"),
    ("metadata value null", _set([*F, "metadata"], {"team": None}), ".metadata.team"),
    ("client_side not a boolean", _set([*F, "client_side"], "yes"), ".client_side"),
    (
        "segment rule with bad clause",
        _set(
            ["segments", "staff", "rules"],
            [{"clauses": [{"attribute": "a", "op": "?", "values": [1]}]}],
        ),
        'segments["staff"].rules[0].clauses[0].op',
    ),
    (
        "segment cycle",
        _set(
            ["segments", "staff", "rules"],
            [
                {
                    "clauses": [
                        {
                            "attribute": "key",
                            "op": "in_segment",
                            "values": ["staff"],
                            "negate": False,
                            "case_insensitive": False,
                        }
                    ]
                }
            ],
        ),
        "segments",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "where"), [(m, w) for _, m, w in MALFORMED], ids=[name for name, _, _ in MALFORMED]
)
def test_malformed_document_is_rejected_naming_the_field(
    golden_document: dict[str, Any], mutate: Mutation, where: str
) -> None:
    mutate(golden_document)
    with pytest.raises(InvalidDocument) as info:
        compile_document(golden_document)
    assert where in info.value.path
    with pytest.raises(InvalidDocument) as received:  # as received, read one flag at a time
        compile_body(json.dumps(golden_document, sort_keys=True).encode())
    assert received.value.path == info.value.path


# Rules the JSON Schema cannot express: references, sums, cycles, regex/CIDR/date syntax.
SEMANTIC_ONLY = {
    "flag key mismatch",
    "duplicate variant",
    "unknown off_variant",
    "target with unknown variant",
    "bad regex",
    "bad cidr value",
    "bad date value",
    "unknown segment",
    "split weights not summing to 100000",
    "segment cycle",
}


@pytest.mark.parametrize(
    "mutate",
    [m for name, m, _ in MALFORMED if name not in SEMANTIC_ONLY],
    ids=[name for name, _, _ in MALFORMED if name not in SEMANTIC_ONLY],
)
def test_schema_rejects_structurally_malformed_documents(
    golden_document: dict[str, Any], mutate: Mutation
) -> None:
    mutate(golden_document)
    assert list(VALIDATOR.iter_errors(golden_document))


def test_golden_document_is_valid_against_the_schema(golden_document: dict[str, Any]) -> None:
    VALIDATOR.validate(golden_document)


def test_invalid_document_message_is_readable(golden_document: dict[str, Any]) -> None:
    golden_document["flags"]["op-in"]["rules"][0]["clauses"][0]["op"] = "matches"
    with pytest.raises(InvalidDocument, match=r'flags\["op-in"\]\.rules\[0\]\.clauses\[0\]\.op'):
        compile_document(golden_document)


def test_non_mapping_document_is_rejected() -> None:
    for doc in (None, [], "{}"):
        with pytest.raises(InvalidDocument):
            compile_document(doc)


def test_optional_fields_take_their_documented_defaults(
    flag_factory: Any, document_factory: Any
) -> None:
    flag = flag_factory("f")
    del flag["salt"], flag["bucket_by"], flag["targets"], flag["rules"]
    doc = document_factory(flag)
    del doc["segments"]
    snapshot = compile_document(doc)
    assert (
        evaluate(snapshot, "f", "user-1").bucket
        == evaluate(compile_document(document_factory(flag_factory("f"))), "f", "user-1").bucket
    )


def test_compile_does_not_mutate_or_alias_the_input(golden_document: dict[str, Any]) -> None:
    before = copy.deepcopy(golden_document)
    snapshot = compile_document(golden_document)
    assert golden_document == before
    value = evaluate(snapshot, "layout", {"key": "outsider"}).value
    value["color"] = "mutated"
    assert evaluate(snapshot, "layout", {"key": "outsider"}).value == {"color": "#f00"}


def test_evaluate_flag_ignores_broken_segments_it_does_not_reference(
    golden_document: dict[str, Any],
) -> None:
    segments = dict(golden_document["segments"], broken={"key": "broken", "rules": "nope"})
    result = evaluate_flag(golden_document["flags"]["op-in"], {"country": "DE"}, segments)
    assert result.reason == "RULE_MATCH"


def test_evaluate_flag_rejects_a_malformed_flag(golden_document: dict[str, Any]) -> None:
    flag = golden_document["flags"]["op-in"]
    flag["default"] = {"variant": "missing"}
    with pytest.raises(InvalidDocument, match=r"default\.variant"):
        evaluate_flag(flag, {"key": "u"}, {})


@pytest.mark.parametrize("context", [42, None, ["key"], 3.5])
def test_evaluate_with_a_malformed_context_reports_error_without_raising(
    golden_document: dict[str, Any], context: Any
) -> None:
    result = evaluate(compile_document(golden_document), "op-in", context)
    assert (result.value, result.reason) == (None, "ERROR")


def test_engine_imports_no_framework() -> None:
    code = (
        "import sys, flagplane.engine;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')];"
        "assert not bad, bad"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1]
    )
