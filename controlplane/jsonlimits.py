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
    """How deeply arrays and objects nest in ``value`` (a scalar is 0), without recursion.

    One level at a time; a container's children are looked at one by one only when some of them
    are containers themselves (``set(map(type, …))`` finds out at C speed), so the long lists of
    numbers a metrics batch holds cost a few C calls each."""
    level, containers = 0, [value] if type(value) in _CONTAINERS else []
    while containers:
        level += 1
        if level > MAX_DEPTH:
            return level
        inner = []
        for container in containers:
            children = container.values() if type(container) is dict else container
            if not _CONTAINERS.isdisjoint(set(map(type, children))):
                inner.extend(child for child in children if type(child) in _CONTAINERS)
        containers = inner
    return level


_CONTAINERS = frozenset({dict, list})
