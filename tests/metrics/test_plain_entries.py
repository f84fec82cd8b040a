"""Entries as the SDK sends them are recognised at C speed (``plain``) and read to what the field
readers read; anything else, a bad value most of all, is read field by field, with its messages."""

from __future__ import annotations

import copy
import json
import random
import re
from datetime import UTC, datetime

import pytest

from controlplane.metrics import plain
from controlplane.metrics.errors import BatchError
from controlplane.metrics.histogram import HISTOGRAM_SIZE
from controlplane.metrics.wire import read_batch
from flagplane.metrics import UNIT_GROUPS
from tests.metrics.helpers import entry, make_batch

NOW = datetime.now(UTC)
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def sdk_batch() -> dict:
    """Two entries as the SDK sends them: one with three unit groups, one without."""
    grouped = entry(successes=6, errors=2, counts=[0, 3, 4, 1] + [0] * (HISTOGRAM_SIZE - 4))
    grouped["units"] = {
        "groups": UNIT_GROUPS,
        "group": [0, 9, 63],
        "successes": [2, 3, 1],
        "errors": [1, 0, 1],
        "latency_counts": [[0, 2, 1] + [0] * 11, [0, 1, 2] + [0] * 11, [0, 0, 1, 1] + [0] * 10],
    }
    return {**make_batch(grouped, entry(variant="off"), end=NOW), "format": 2}


def outcome(batch: dict, text: bytes | None = None, checked: bool = False):
    try:
        return read_batch(batch, NOW, text, checked)
    except BatchError as exc:
        return exc.errors


def by_field(batch: dict) -> dict:
    """The batch with each flag key padded: the field readers trim it, ``plain`` leaves the entry to them."""
    padded = copy.deepcopy(batch)
    for item in padded["flags"]:
        if isinstance(item, dict):
            item["flag"] = f" {item['flag']}"
    return padded


VALUES = [0, 1, 2, 7, 10**12, 10**12 + 1, 10**15, -1, 0.5, 2.0, True, False, None, "1", [], {}, [0] * HISTOGRAM_SIZE,
          float("nan"), float("inf")]  # fmt: skip


def places(batch: dict) -> list[tuple[object, object]]:
    """(container, key) of every value in the entries but their keys' names and flag keys."""
    found, stack = [], [batch["flags"]]
    while stack:
        container = stack.pop()
        keys = range(len(container)) if isinstance(container, list) else list(container)
        for key in keys:
            if key != "flag":
                found.append((container, key))
                if isinstance(container[key], dict | list):
                    stack.append(container[key])
    return found


def mutated(rng: random.Random) -> dict:
    batch = sdk_batch()
    for _ in range(rng.randint(1, 2)):
        container, key = rng.choice(places(batch))
        action = rng.random()
        if action < 0.1 and isinstance(container, dict):
            del container[key]
        elif action < 0.2 and isinstance(container, list):
            container.append(rng.choice(VALUES))
        else:
            container[key] = copy.deepcopy(rng.choice(VALUES))
    return batch


def test_an_sdk_batch_reads_the_same_recognised_or_field_by_field():
    batch = sdk_batch()
    text = json.dumps(batch).encode()
    assert plain.unsigned(text)
    assert outcome(batch, text) == outcome(batch) == outcome(by_field(batch)) == outcome(batch, checked=True)
    assert outcome(batch, text).entries[0].units.group == [0, 9, 63]


def test_changed_entries_read_the_same_recognised_or_field_by_field():
    rng = random.Random(16)
    refused = 0
    for _ in range(600):
        text = json.dumps(mutated(rng)).encode()
        batch = json.loads(text)  # as the parser hands it over (NaN and Infinity too)
        fast = outcome(batch, text)
        assert fast == outcome(batch) == outcome(by_field(batch)), text
        if isinstance(fast, dict):
            refused += 1
        else:  # parked, then drained: read again without the checks
            assert outcome(batch, checked=True) == outcome(by_field(batch), checked=True) == fast, text
    assert 300 < refused < 600  # both kinds were tried


@pytest.mark.django_db
def test_a_float_among_unit_group_counts_is_refused_with_its_field(post):
    batch = sdk_batch()
    batch["flags"][0]["units"]["latency_counts"][1][2] = 1.5

    response = post(batch)

    assert response.status_code == 400
    assert response.json()["flags"]["0"]["units"]["latency_counts"]["1"]["2"] == ["Must be a non-negative integer."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"a":1,"b":[0,2.5,1e5]}', True),
        (b'{"a":-1}', False),
        (b'{"a":1e-5}', False),
        (b'{"a":true}', False),
        (b'{"a":[false]}', False),
        (b'{"a":[Infinity]}', False),
        (b'{"a":null,"b":NaN}', True),
        (b'{"flag-1":"a-b","true":"false","t":"f"}', True),
        (b'{"a":"x\\"-t","b":"\\\\"}', True),
        (b'{"a\\\\":-1}', False),
        (b'{"a":"","b":"","c":-2}', False),
        ('{"café-t":"é-f","n":[1]}'.encode(), True),
    ],
)
def test_unsigned_looks_outside_strings_only(text, expected):
    json.loads(text)
    assert plain.unsigned(text) is expected


def test_unsigned_agrees_with_the_strings_removed():
    rng = random.Random(64)
    pieces = ['"a"', '"-"', '"t"', '"f"', '""', '"\\""', '"\\\\"', '"x-\\"t"']
    pieces += ["1", "-1", "true", "false", "null", "2.5"]
    for _ in range(500):
        text = json.dumps(json.loads("[" + ",".join(rng.choices(pieces, k=rng.randint(0, 12))) + "]"))
        if rng.random() < 0.5:
            text = text.replace(", ", ",")
        raw = text.encode()
        outside = JSON_STRING.sub(b"", raw)
        assert plain.unsigned(raw) is not any(mark in outside for mark in (b"-", b"t", b"f")), raw


def test_a_checked_batch_read_field_by_field_reads_the_same_without_the_checks():
    batch = sdk_batch()
    batch["flags"][0]["units"]["group"] = ["0", 9.0, 63]  # as DRF's IntegerField reads them
    batch["flags"][1]["latency_ms"] = {"bounds": [5, 50, 500], "counts": [1, 1, 1, 0], "sum": 9}
    batch["flags"][1]["variant"] = " off "

    assert outcome(batch, checked=True) == outcome(batch)
    assert outcome(batch, checked=True).entries[0].units.group == [0, 9, 63]
