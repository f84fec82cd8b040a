"""Regenerate docs/golden/*.json. Run: .venv/bin/python sdk/tests/generate_golden.py

Deliberately independent of the engine: buckets come straight from mmh3 and the expected
results of docs/golden/evaluation.json are written out by hand below, so the golden tests check
the engine against the contract rather than against itself.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import mmh3

GOLDEN = Path(__file__).resolve().parents[2] / "docs" / "golden"


def raw_bucket(salt: str, unit: str | int) -> int:
    return mmh3.hash(f"{salt}:{unit}", 0, False) % 100_000


def pick(split: list[dict[str, Any]], bucket: int) -> str:
    total = 0
    for piece in split:
        total += piece["weight"]
        if bucket < total:
            return piece["variant"]
    raise AssertionError("weights do not sum to 100000")


def two_way(first: int) -> list[dict[str, Any]]:
    return [{"variant": "a", "weight": first}, {"variant": "b", "weight": 100_000 - first}]


def bucketing_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []

    def add(salt: str, unit: str | int, split: list[dict[str, Any]], note: str) -> None:
        b = raw_bucket(salt, unit)
        cases.append(
            {
                "note": note,
                "salt": salt,
                "unit": unit,
                "bucket": b,
                "split": split,
                "variant": pick(split, b),
            }
        )

    half = two_way(50_000)
    add("new-checkout", "user-42", half, "typical")
    add("new-checkout", "", half, "empty string unit is a valid unit")
    add("new-checkout", " ", half, "whitespace unit")
    add("new-checkout", "0", half, "string zero")
    add("new-checkout", 0, half, "int unit 0 hashes as '0'")
    add("new-checkout", 42, half, "int unit hashes as its decimal form")
    add("new-checkout", -7, half, "negative int unit")
    add("new-checkout", 2**63, half, "int beyond 64 bits signed")
    add("new-checkout", "ユーザー-1", half, "unicode unit (UTF-8 bytes are hashed)")
    add("new-checkout", "😀🚀", half, "astral-plane unicode unit")
    add("nouvelle-caisse-é", "user-42", half, "unicode salt")
    add("a:b", "c", half, "salt containing the separator")
    add("a", "b:c", half, "unit containing the separator")
    add("new-checkout", "user-42", two_way(1), "0.001% first slice")
    add("new-checkout", "user-42", two_way(99_999), "99.999% first slice")
    add("new-checkout", "user-42", two_way(0), "0 weight first slice is never served")
    add("new-checkout", "user-42", two_way(100_000), "100000 weight first slice serves all")
    add(
        "layout",
        "user-7",
        [
            {"variant": "a", "weight": 0},
            {"variant": "b", "weight": 100_000},
            {"variant": "c", "weight": 0},
        ],
        "zero-weight slices around a full one",
    )
    # Boundaries: a unit whose bucket equals the first threshold goes to the second slice.
    for salt, unit in (("boundary", "user-1"), ("boundary", "user-2")):
        b = raw_bucket(salt, unit)
        add(salt, unit, two_way(b), "threshold == bucket: served by the next slice")
        add(salt, unit, two_way(b + 1), "threshold == bucket + 1: served by the first slice")

    rng = random.Random(20261125)
    for index in range(50):
        salt = rng.choice(["new-checkout", "search-v2", "layout", "pricing", f"flag-{index}"])
        unit: str | int
        unit = rng.randrange(10**9) if index % 7 == 0 else f"user-{rng.randrange(10**6)}"
        slices = rng.randint(2, 4)
        cuts = sorted(rng.randrange(100_001) for _ in range(slices - 1))
        edges = [0, *cuts, 100_000]
        split = [{"variant": "abcd"[i], "weight": edges[i + 1] - edges[i]} for i in range(slices)]
        add(salt, unit, split, "random")
    return cases


def clause(
    attribute: str, op: str, values: list[Any], negate: bool = False, ci: bool = False
) -> dict[str, Any]:
    return {
        "attribute": attribute,
        "op": op,
        "values": values,
        "negate": negate,
        "case_insensitive": ci,
    }


BOOL_VARIANTS = [{"key": "on", "value": True}, {"key": "off", "value": False}]


def boolean_flag(key: str, clauses: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    flag = {
        "key": key,
        "kind": "boolean",
        "variant_type": "boolean",
        "version": 1,
        "on": True,
        "salt": key,
        "bucket_by": "key",
        "variants": BOOL_VARIANTS,
        "off_variant": "off",
        "targets": [],
        "default": {"variant": "off"},
        "rules": [{"id": "r1", "description": "", "clauses": clauses, "serve": {"variant": "on"}}],
    }
    flag.update(overrides)
    return flag


ON = {"value": True, "variant": "on", "reason": "RULE_MATCH", "rule": "r1", "bucket": None}
OFF = {"value": False, "variant": "off", "reason": "DEFAULT", "rule": None, "bucket": None}

# (flag key, clauses, [(context, matches?), ...]) -- one boolean flag per operator case
OPERATOR_CASES: list[tuple[str, list[dict[str, Any]], list[tuple[dict[str, Any], bool]]]] = [
    (
        "op-in",
        [clause("country", "in", ["DE", "FR", 7, True])],
        [
            ({"key": "u", "country": "DE"}, True),
            ({"key": "u", "country": "de"}, False),
            ({"key": "u", "country": ["US", "FR"]}, True),
            ({"key": "u", "country": ["US", "GB"]}, False),
            ({"key": "u", "country": 7}, True),
            ({"key": "u", "country": 7.0}, True),
            ({"key": "u", "country": "7"}, False),
            ({"key": "u", "country": True}, True),
            ({"key": "u", "country": 1}, False),
            ({"key": "u", "country": {"code": "DE"}}, False),
            ({"key": "u", "country": None}, False),
            ({"key": "u"}, False),
        ],
    ),
    (
        "op-in-ci",
        [clause("country", "in", ["De"], ci=True)],
        [
            ({"key": "u", "country": "dE"}, True),
            ({"key": "u", "country": "FR"}, False),
        ],
    ),
    (
        "op-in-negate",
        [clause("country", "in", ["DE"], negate=True)],
        [
            ({"key": "u", "country": "US"}, True),
            ({"key": "u", "country": "DE"}, False),
            ({"key": "u"}, False),
            ({"key": "u", "country": []}, False),
        ],
    ),
    (
        "op-not_in",
        [clause("country", "not_in", ["DE", "FR"])],
        [
            ({"key": "u", "country": "US"}, True),
            ({"key": "u", "country": "DE"}, False),
            ({"key": "u", "country": ["US", "DE"]}, False),
            ({"key": "u", "country": ["US", "GB"]}, True),
            ({"key": "u", "country": []}, False),
            ({"key": "u"}, False),
        ],
    ),
    (
        "op-not_in-negate",
        [clause("country", "not_in", ["DE"], negate=True)],
        [
            ({"key": "u", "country": "DE"}, True),
            ({"key": "u", "country": "US"}, False),
            ({"key": "u"}, False),
        ],
    ),
    (
        "op-equals",
        [clause("plan", "equals", ["pro"])],
        [
            ({"key": "u", "plan": "pro"}, True),
            ({"key": "u", "plan": "Pro"}, False),
            ({"key": "u", "plan": ["free", "pro"]}, True),
        ],
    ),
    (
        "op-equals-ci",
        [clause("plan", "equals", ["pro"], ci=True)],
        [
            ({"key": "u", "plan": "PRO"}, True),
            ({"key": "u", "plan": "free"}, False),
        ],
    ),
    (
        "op-equals-number",
        [clause("seats", "equals", [5])],
        [
            ({"key": "u", "seats": 5}, True),
            ({"key": "u", "seats": 5.0}, True),
            ({"key": "u", "seats": "5"}, False),
        ],
    ),
    (
        "op-starts_with",
        [clause("email", "starts_with", ["admin@", "root@"])],
        [
            ({"key": "u", "email": "root@acme.com"}, True),
            ({"key": "u", "email": "Admin@acme.com"}, False),
            ({"key": "u", "email": 5}, False),
        ],
    ),
    (
        "op-starts_with-negate",
        [clause("email", "starts_with", ["admin@"], negate=True)],
        [
            ({"key": "u", "email": "user@acme.com"}, True),
            ({"key": "u", "email": "admin@acme.com"}, False),
            ({"key": "u", "email": 5}, False),
            ({"key": "u"}, False),
        ],
    ),
    (
        "op-ends_with-ci",
        [clause("email", "ends_with", ["@ACME.com"], ci=True)],
        [
            ({"key": "u", "email": "jo@acme.COM"}, True),
            ({"key": "u", "email": "jo@example.com"}, False),
        ],
    ),
    (
        "op-contains",
        [clause("user_agent", "contains", ["Mobile"])],
        [
            ({"key": "u", "user_agent": "Mozilla/5.0 Mobile Safari"}, True),
            ({"key": "u", "user_agent": "Mozilla/5.0 mobile"}, False),
            ({"key": "u", "user_agent": ["Desktop", "Mobile"]}, True),
        ],
    ),
    (
        "op-regex",
        [clause("build", "regex", [r"^v\d+\.\d+$", "^nightly"])],
        [
            ({"key": "u", "build": "v12.3"}, True),
            ({"key": "u", "build": "nightly-2026"}, True),
            ({"key": "u", "build": "V12.3"}, False),
            ({"key": "u", "build": "release v12.3"}, False),
            ({"key": "u", "build": 12}, False),
        ],
    ),
    (
        "op-regex-search",
        [clause("path", "regex", ["admin"])],
        [
            ({"key": "u", "path": "/app/admin/users"}, True),
        ],
    ),
    (
        # A regex reads at most 1024 bytes of UTF-8 (flagplane.regex.MAX_INPUT_BYTES); a longer
        # attribute does not convert, so even a negated clause is false.
        "op-regex-bound",
        [clause("ref", "regex", ["^r"])],
        [
            ({"key": "u", "ref": "r" * 1024}, True),
            ({"key": "u", "ref": "r" * 1025}, False),
            ({"key": "u", "ref": "r" + "\u00e9" * 511 + "x"}, True),
            ({"key": "u", "ref": "r" + "\u00e9" * 512}, False),
        ],
    ),
    (
        "op-regex-bound-negated",
        [clause("ref", "regex", ["^x"], negate=True)],
        [
            ({"key": "u", "ref": "r" * 1024}, True),
            ({"key": "u", "ref": "r" * 1025}, False),
        ],
    ),
    (
        "op-regex-ci",
        [clause("build", "regex", ["^nightly"], ci=True)],
        [
            ({"key": "u", "build": "NIGHTLY-1"}, True),
        ],
    ),
    (
        "op-num_lt",
        [clause("age", "num_lt", [10])],
        [
            ({"key": "u", "age": 9}, True),
            ({"key": "u", "age": 10}, False),
            ({"key": "u", "age": "9.5"}, True),
            ({"key": "u", "age": "abc"}, False),
            ({"key": "u", "age": True}, False),
            ({"key": "u", "age": [20, 3]}, True),
        ],
    ),
    (
        "op-num_lt-negate",
        [clause("age", "num_lt", [10], negate=True)],
        [
            ({"key": "u", "age": 12}, True),
            ({"key": "u", "age": "abc"}, False),
            ({"key": "u"}, False),
        ],
    ),
    (
        "op-num_lte",
        [clause("age", "num_lte", [10])],
        [
            ({"key": "u", "age": 10}, True),
            ({"key": "u", "age": 10.5}, False),
        ],
    ),
    (
        "op-num_gt",
        [clause("age", "num_gt", [20, 10])],
        [
            ({"key": "u", "age": 15}, True),
            ({"key": "u", "age": 10}, False),
        ],
    ),
    (
        "op-num_gte",
        [clause("age", "num_gte", [18])],
        [
            ({"key": "u", "age": 18}, True),
            ({"key": "u", "age": " 17 "}, False),
            ({"key": "u", "age": "NaN"}, False),
        ],
    ),
    (
        "op-num_eq",
        [clause("seats", "num_eq", [3])],
        [
            ({"key": "u", "seats": 3.0}, True),
            ({"key": "u", "seats": "3"}, True),
            ({"key": "u", "seats": 4}, False),
        ],
    ),
    (
        "op-semver_lt",
        [clause("app_version", "semver_lt", ["2.0.0"])],
        [
            ({"key": "u", "app_version": "1.9.9"}, True),
            ({"key": "u", "app_version": "2.0.0-rc.1"}, True),
            ({"key": "u", "app_version": "v1"}, True),
            ({"key": "u", "app_version": "2"}, False),
            ({"key": "u", "app_version": "1.x"}, False),
            ({"key": "u", "app_version": 1}, False),
        ],
    ),
    (
        "op-semver_lt-prerelease",
        [clause("app_version", "semver_lt", ["1.0.0-alpha.beta"])],
        [
            ({"key": "u", "app_version": "1.0.0-alpha.1"}, True),
            ({"key": "u", "app_version": "1.0.0-alpha"}, True),
            ({"key": "u", "app_version": "1.0.0-beta"}, False),
        ],
    ),
    (
        "op-semver_lte",
        [clause("app_version", "semver_lte", ["1.2"])],
        [
            ({"key": "u", "app_version": "1.2.0"}, True),
            ({"key": "u", "app_version": "1.2.1"}, False),
        ],
    ),
    (
        "op-semver_gt",
        [clause("app_version", "semver_gt", ["1.2"])],
        [
            ({"key": "u", "app_version": "1.10.0"}, True),
            ({"key": "u", "app_version": "1.2.0"}, False),
            ({"key": "u", "app_version": "1.2.0+build.5"}, False),
        ],
    ),
    (
        "op-semver_gte",
        [clause("app_version", "semver_gte", ["v2.1.0"])],
        [
            ({"key": "u", "app_version": "2.1"}, True),
            ({"key": "u", "app_version": "2.1.0-rc.1"}, False),
        ],
    ),
    (
        "op-semver_eq",
        [clause("app_version", "semver_eq", ["1.0.0+build.1"])],
        [
            ({"key": "u", "app_version": "1"}, True),
            ({"key": "u", "app_version": "1.0.0+other"}, True),
            ({"key": "u", "app_version": "1.0.0-alpha"}, False),
            ({"key": "u", "app_version": "01.0.0"}, False),
        ],
    ),
    (
        "op-date_before",
        [clause("signup", "date_before", ["2025-01-01T00:00:00Z"])],
        [
            ({"key": "u", "signup": "2024-12-31T23:59:59Z"}, True),
            ({"key": "u", "signup": 1735689599000}, True),
            ({"key": "u", "signup": "2025-01-01T01:00:00+02:00"}, True),
            ({"key": "u", "signup": "2024-12-31T23:59:59"}, True),
            ({"key": "u", "signup": "2025-01-01"}, False),
            ({"key": "u", "signup": "not a date"}, False),
            ({"key": "u", "signup": True}, False),
        ],
    ),
    (
        "op-date_after",
        [clause("signup", "date_after", [1735689600000])],
        [
            ({"key": "u", "signup": "2025-01-02"}, True),
            ({"key": "u", "signup": 1735689600000}, False),
            ({"key": "u", "signup": "2024-06-01T00:00:00.500Z"}, False),
        ],
    ),
    (
        "op-in_cidr",
        [clause("ip", "in_cidr", ["10.0.0.0/8", "2001:db8::/32"])],
        [
            ({"key": "u", "ip": "10.1.2.3"}, True),
            ({"key": "u", "ip": "11.0.0.1"}, False),
            ({"key": "u", "ip": "2001:db8::1"}, True),
            ({"key": "u", "ip": "2001:db9::1"}, False),
            ({"key": "u", "ip": "not-an-ip"}, False),
            ({"key": "u", "ip": 167772161}, False),
        ],
    ),
    (
        "op-in_cidr-negate",
        [clause("ip", "in_cidr", ["10.0.0.0/8"], negate=True)],
        [
            ({"key": "u", "ip": "192.0.2.1"}, True),
            ({"key": "u", "ip": "10.0.0.1"}, False),
            ({"key": "u", "ip": "999.0.0.1"}, False),
        ],
    ),
    (
        "op-in_segment",
        [clause("key", "in_segment", ["beta-testers", "staff"])],
        [
            ({"key": "inc"}, True),
            ({"key": "exc", "email": "x@acme.com"}, False),
            ({"key": "anyone", "email": "x@acme.com"}, True),
            ({"key": "anyone", "email": "x@example.com"}, False),
            ({"email": "x@acme.com"}, True),
            ({"key": "s1"}, True),
        ],
    ),
    (
        "op-in_segment-negate",
        [clause("key", "in_segment", ["beta-testers"], negate=True)],
        [
            ({"key": "inc"}, False),
            ({"key": "nobody"}, True),
        ],
    ),
    (
        "op-in_segment-nested",
        [clause("key", "in_segment", ["pro-betas"])],
        [
            ({"key": "inc", "plan": "pro"}, True),
            ({"key": "inc", "plan": "free"}, False),
            ({"key": "z", "plan": "pro"}, False),
        ],
    ),
    (
        "rule-all-clauses",
        [clause("country", "in", ["DE"]), clause("plan", "equals", ["pro"])],
        [
            ({"key": "u", "country": "DE", "plan": "pro"}, True),
            ({"key": "u", "country": "DE", "plan": "free"}, False),
            ({"key": "u", "plan": "pro"}, False),
        ],
    ),
    ("rule-no-clauses", [], [({"key": "u"}, True), ({}, True)]),
]

SEGMENTS = {
    "beta-testers": {
        "key": "beta-testers",
        "included": ["inc"],
        "excluded": ["exc"],
        "rules": [{"clauses": [clause("email", "ends_with", ["@acme.com"])]}],
    },
    "staff": {"key": "staff", "included": ["s1", "s2"], "excluded": [], "rules": []},
    "pro-betas": {
        "key": "pro-betas",
        "included": [],
        "excluded": [],
        "rules": [
            {
                "clauses": [
                    clause("key", "in_segment", ["beta-testers"]),
                    clause("plan", "equals", ["pro"]),
                ]
            }
        ],
    },
}


def evaluation_golden() -> dict[str, Any]:
    flags: dict[str, Any] = {}
    cases: list[dict[str, Any]] = []
    for key, clauses, checks in OPERATOR_CASES:
        flags[key] = boolean_flag(key, clauses)
        for context, matches in checks:
            cases.append({"flag": key, "context": context, "expected": ON if matches else OFF})

    # Kill switch beats targets and rules.
    flags["killed"] = boolean_flag(
        "killed", [], on=False, targets=[{"variant": "on", "keys": ["alice"]}]
    )
    for context in ({"key": "alice"}, {"key": "bob"}, {}):
        cases.append({"flag": "killed", "context": context, "expected": {**OFF, "reason": "OFF"}})

    # Targets beat rules; the first target listing a key wins; targets match context["key"].
    flags["targeted"] = boolean_flag(
        "targeted",
        [clause("plan", "equals", ["pro"])],
        targets=[
            {"variant": "off", "keys": ["alice", "42"]},
            {"variant": "on", "keys": ["alice", "bob"]},
        ],
    )
    target_off = {**OFF, "reason": "TARGET"}
    target_on = {**ON, "reason": "TARGET", "rule": None}
    cases += [
        {"flag": "targeted", "context": {"key": "alice", "plan": "pro"}, "expected": target_off},
        {"flag": "targeted", "context": {"key": "bob"}, "expected": target_on},
        {"flag": "targeted", "context": {"key": 42, "plan": "pro"}, "expected": target_off},
        {"flag": "targeted", "context": {"key": "carol", "plan": "pro"}, "expected": ON},
        {"flag": "targeted", "context": {"user": "alice"}, "expected": OFF},
    ]

    # Rule order: the first matching rule wins.
    flags["rule-order"] = {
        "key": "rule-order",
        "kind": "multivariate",
        "variant_type": "string",
        "version": 3,
        "on": True,
        "salt": "rule-order",
        "bucket_by": "key",
        "variants": [
            {"key": "a", "value": "first"},
            {"key": "b", "value": "second"},
            {"key": "c", "value": "fallthrough"},
        ],
        "off_variant": "c",
        "targets": [],
        "rules": [
            {
                "id": "germany",
                "description": "",
                "clauses": [clause("country", "in", ["DE"])],
                "serve": {"variant": "a"},
            },
            {
                "id": "europe",
                "description": "",
                "clauses": [clause("country", "in", ["DE", "FR"])],
                "serve": {"variant": "b"},
            },
        ],
        "default": {"variant": "c"},
    }
    cases += [
        {
            "flag": "rule-order",
            "context": {"key": "u", "country": "DE"},
            "expected": {
                "value": "first",
                "variant": "a",
                "reason": "RULE_MATCH",
                "rule": "germany",
                "bucket": None,
            },
        },
        {
            "flag": "rule-order",
            "context": {"key": "u", "country": "FR"},
            "expected": {
                "value": "second",
                "variant": "b",
                "reason": "RULE_MATCH",
                "rule": "europe",
                "bucket": None,
            },
        },
        {
            "flag": "rule-order",
            "context": {"key": "u", "country": "US"},
            "expected": {
                "value": "fallthrough",
                "variant": "c",
                "reason": "DEFAULT",
                "rule": None,
                "bucket": None,
            },
        },
    ]

    # Splits: default split (SPLIT), split inside a rule (RULE_MATCH with a bucket), custom
    # bucket_by with int units, and the last slice for a missing unit.
    rollout_split = [{"variant": "on", "weight": 25_000}, {"variant": "off", "weight": 75_000}]
    flags["rollout"] = boolean_flag(
        "rollout", [], salt="rollout-salt", rules=[], default={"split": rollout_split}
    )
    for unit in ("user-1", "user-2", "user-3", "user-4", "ユーザー", 12345):
        b = raw_bucket("rollout-salt", unit)
        variant = pick(rollout_split, b)
        cases.append(
            {
                "flag": "rollout",
                "context": {"key": unit},
                "expected": {
                    "value": variant == "on",
                    "variant": variant,
                    "reason": "SPLIT",
                    "rule": None,
                    "bucket": b,
                },
            }
        )
    for context in ({}, {"key": 1.5}, {"key": None}, {"key": True}):
        cases.append(
            {"flag": "rollout", "context": context, "expected": {**OFF, "reason": "SPLIT"}}
        )

    layout_split = [
        {"variant": "red", "weight": 33_333},
        {"variant": "green", "weight": 33_333},
        {"variant": "blue", "weight": 33_334},
    ]
    flags["layout"] = {
        "key": "layout",
        "kind": "multivariate",
        "variant_type": "json",
        "version": 1,
        "on": True,
        "salt": "layout",
        "bucket_by": "org",
        "variants": [
            {"key": "red", "value": {"color": "#f00"}},
            {"key": "green", "value": {"color": "#0f0"}},
            {"key": "blue", "value": {"color": "#00f"}},
        ],
        "off_variant": "red",
        "targets": [],
        "rules": [
            {
                "id": "beta-split",
                "description": "betas get a 3-way split",
                "clauses": [clause("key", "in_segment", ["beta-testers"])],
                "serve": {"split": layout_split},
            }
        ],
        "default": {"variant": "red"},
    }
    colors = {"red": "#f00", "green": "#0f0", "blue": "#00f"}
    for org in ("acme", "globex", 7, "initech"):
        b = raw_bucket("layout", org)
        variant = pick(layout_split, b)
        cases.append(
            {
                "flag": "layout",
                "context": {"key": "inc", "org": org},
                "expected": {
                    "value": {"color": colors[variant]},
                    "variant": variant,
                    "reason": "RULE_MATCH",
                    "rule": "beta-split",
                    "bucket": b,
                },
            }
        )
    cases.append(
        {
            "flag": "layout",
            "context": {"key": "inc"},
            "expected": {
                "value": {"color": "#00f"},
                "variant": "blue",
                "reason": "RULE_MATCH",
                "rule": "beta-split",
                "bucket": None,
            },
        }
    )
    cases.append(
        {
            "flag": "layout",
            "context": {"key": "outsider", "org": "acme"},
            "expected": {
                "value": {"color": "#f00"},
                "variant": "red",
                "reason": "DEFAULT",
                "rule": None,
                "bucket": None,
            },
        }
    )
    cases.append(
        {
            "flag": "no-such-flag",
            "context": {"key": "u"},
            "expected": {
                "value": None,
                "variant": None,
                "reason": "FLAG_NOT_FOUND",
                "rule": None,
                "bucket": None,
            },
        }
    )

    document = {
        "schema_version": 1,
        "project": "golden",
        "environment": "test",
        "version": 1,
        "flags": flags,
        "segments": SEGMENTS,
    }
    return {"document": document, "cases": cases}


def main() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    (GOLDEN / "bucketing.json").write_text(
        json.dumps(
            {
                "formula": 'mmh3.hash(f"{salt}:{unit}", seed=0, signed=False) % 100000',
                "cases": bucketing_cases(),
            },
            indent=1,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    (GOLDEN / "evaluation.json").write_text(
        json.dumps(evaluation_golden(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
