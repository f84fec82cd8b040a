"""JSON from outside, parsed with a bound on nesting: ``[[[[…]]]]`` 100,000 deep is a clear error,
not a RecursionError (a 500) in the parser or in whatever walks the value afterwards."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Nesting levels of arrays and objects a request may send; ours need fewer than ten."""


class TooDeep(ValueError):
    pass


def loads(text: str | bytes) -> Any:
    """``json.loads`` that raises ``ValueError`` (``TooDeep`` for nesting) for anything it refuses."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(f"JSON nested more than {MAX_DEPTH} levels deep") from None
    if depth(value) > MAX_DEPTH:
        raise TooDeep(f"JSON nested more than {MAX_DEPTH} levels deep")
    return value


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
