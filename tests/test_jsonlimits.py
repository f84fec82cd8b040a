"""JSON from outside is refused past 64 levels of nesting, counted from the text as ``depth``
counts the value: strings (brackets, escaped quotes and all) do not nest."""

from __future__ import annotations

import json
import random

import pytest

from controlplane import jsonlimits


def nested(levels: int, inner: object = 1) -> object:
    value = inner
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize("levels", [0, 1, 2, 63, 64])
def test_up_to_64_levels_are_read(levels):
    text = json.dumps(nested(levels))
    assert jsonlimits.loads(text) == json.loads(text)


@pytest.mark.parametrize("text", [json.dumps(nested(65)), "[" * 65 + "]" * 65, "[" * 100_000 + "]" * 100_000])
def test_more_than_64_levels_are_refused_with_the_same_error(text):
    with pytest.raises(jsonlimits.TooDeep, match="JSON nested more than 64 levels deep"):
        jsonlimits.loads(text)


@pytest.mark.parametrize(
    "inner", ['[[[{{{"', '\\"[[[[', "\\\\", '"]]]"', "é[ü{", "\ud800[", "]" * 70, "[" * 70, '""[["']
)
def test_brackets_and_quotes_inside_strings_do_not_nest(inner):
    at_the_limit = nested(62, [inner, {"[[": inner}, ""])
    assert jsonlimits.depth(at_the_limit) == 64
    assert jsonlimits.loads(json.dumps(at_the_limit, ensure_ascii=False)) == at_the_limit
    with pytest.raises(jsonlimits.TooDeep):
        jsonlimits.loads(json.dumps(nested(63, [inner, {"[[": inner}]), ensure_ascii=False))


def test_the_text_is_refused_exactly_when_the_value_nests_too_deep():
    pieces = ["[", "]", "{", "}", '"', "\\", "x", "é"]
    rng = random.Random(16)

    def value(levels: int) -> object:
        if levels == 0:
            return rng.choice([1, None, "".join(rng.choices(pieces, k=rng.randrange(4)))])
        leaf = "".join(rng.choices(pieces, k=rng.randrange(4)))  # one container a level: a small value
        if rng.random() < 0.5:
            return [leaf, value(levels - 1)][:: rng.choice([1, -1])]
        return {"".join(rng.choices(pieces, k=2)): value(levels - 1), leaf + "!": leaf}

    refused = 0
    for _ in range(300):
        candidate = value(rng.randrange(60, 70))
        text = json.dumps(candidate, ensure_ascii=rng.random() < 0.5)
        too_deep = jsonlimits.depth(candidate) > jsonlimits.MAX_DEPTH
        try:
            jsonlimits.loads(text)
        except jsonlimits.TooDeep:
            assert too_deep, text
            refused += 1
        else:
            assert not too_deep, text
    assert 0 < refused < 300
