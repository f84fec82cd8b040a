"""A document received as JSON text, compiled one flag at a time.

``compile_document(json.loads(text))`` holds the whole parsed document (about 100 MB for 10,000
flags of 5 rules) next to what is compiled from it. ``compile_text`` walks the top-level object
and the ``flags`` object itself and parses each flag's value with ``json``'s own scanner, so only
one flag's parsed JSON is alive at a time. The result, and every ``InvalidDocument``, is the
same as ``compile_document``'s. Segments come after the flags in a document's canonical key
order, so a flag's ``in_segment`` clauses are compiled against a reference that is bound once the
segments are compiled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from flagplane.compiler import (
    SCHEMA_VERSION,
    _document_fields,
    _SegmentCompiler,
    _Shared,
    compile_document,
    compile_flag,
)
from flagplane.errors import InvalidDocument
from flagplane.operators import Context, Matcher
from flagplane.snapshot import CompiledFlag, Snapshot

_value = json.JSONDecoder().raw_decode
"""(text, index) -> (the JSON value at text[index], the index after it): json's C scanner."""
_SPACE = re.compile(r"[ \t\n\r]*")


def compile_text(text: str) -> Snapshot:
    """``compile_document(json.loads(text))``, without the whole parsed document at once.

    Raises ``ValueError`` (``json.JSONDecodeError``) for text that is not JSON and
    ``InvalidDocument`` for a document that is not valid."""
    start = _skip(text, 0)
    if not text.startswith("{", start):
        return compile_document(json.loads(text))  # not an object: refused as before
    top: dict[str, Any] = {}
    reader = _FlagReader(text)

    def member(key: str, index: int) -> int:
        if key == "flags" and text.startswith("{", index):
            reader.start()  # a repeated key: the last one counts, as in json.loads
            top[key] = reader.flags
            return _walk_object(text, index, reader.read)
        top[key], end = _value(text, index)
        return end

    end = _skip(text, _walk_object(text, start, member))
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return reader.snapshot(top)


class _FlagReader:
    """Compiles each flag as soon as it is parsed; the first problem is kept for later, when the
    document's own fields (its schema version first) and its segments have been checked."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.start()

    def start(self) -> None:
        """Forget the flags read so far (a ``flags`` object that a later one replaces)."""
        self.flags: dict[str, CompiledFlag] = {}
        self.problem: InvalidDocument | None = None
        self.segments = _SegmentReferences()
        self.shared = _Shared()

    def read(self, key: str, index: int) -> int:
        raw, end = _value(self.text, index)
        if self.problem is None:
            try:
                self.flags[key] = compile_flag(
                    raw, self.segments.resolve, f'flags["{key}"]', key, self.shared
                )
            except InvalidDocument as exc:
                self.problem = exc
        return end

    def snapshot(self, top: dict[str, Any]) -> Snapshot:
        """The checks of ``compiler._compile_document``, in its order, on what was read (``flags``
        holds the flags compiled so far when it was an object)."""
        project, environment, version, raw_segments, _ = _document_fields(top)
        segments = _SegmentCompiler(raw_segments)
        compiled_segments = segments.compile_all()
        # Every reference was met before the problem (compiling stops there), so an unknown
        # segment among them comes first in document order, where compile_document reports it.
        targets = self.segments.bind(segments)
        if self.problem is not None:
            raise self.problem
        _inline_segments(targets, self.flags.values())
        return Snapshot(
            SCHEMA_VERSION, project, environment, version, self.flags, compiled_segments
        )


class _SegmentReferences:
    """``in_segment`` references met before the segments: each is a matcher that calls the
    segment's own once ``bind`` has compiled it (or raised for an unknown segment or a cycle)."""

    def __init__(self) -> None:
        self._references: dict[Matcher, tuple[str, str, list[Matcher]]] = {}

    def resolve(self, key: str, path: str) -> Matcher:
        bound: list[Matcher] = []

        def is_member(context: Context) -> bool:
            return bound[0](context)

        self._references[is_member] = (key, path, bound)
        return is_member

    def bind(self, segments: _SegmentCompiler) -> dict[Matcher, Matcher]:
        """Bind every reference, in the order they were met; returns each one's segment matcher."""
        targets: dict[Matcher, Matcher] = {}
        for reference, (key, path, bound) in self._references.items():
            bound.append(segments.resolve(key, path))
            targets[reference] = bound[0]
        return targets


def _inline_segments(targets: dict[Matcher, Matcher], flags: Iterable[CompiledFlag]) -> None:
    """Where a rule holds a reference as a clause of its own (one segment, not negated), the
    rule gets the segment's matcher instead: evaluation as fast as ever."""
    if not targets:
        return
    for flag in flags:
        for rule in flag.rules:
            if any(matcher in targets for matcher in rule.matchers):
                rule.matchers = tuple(targets.get(m, m) for m in rule.matchers)


def _walk_object(text: str, index: int, member: Callable[[str, int], int]) -> int:
    """For each member of the JSON object at ``text[index]``, ``member(key, value_index)``,
    which parses the value and returns the index after it; returns the index after the object."""
    index = _skip(text, index + 1)
    if text.startswith("}", index):
        return index + 1
    while True:
        if not text.startswith('"', index):
            raise json.JSONDecodeError("Expecting a property name in double quotes", text, index)
        key, index = _value(text, index)
        index = _skip(text, index)
        if not text.startswith(":", index):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, index)
        index = _skip(text, member(key, _skip(text, index + 1)))
        if text.startswith("}", index):
            return index + 1
        if not text.startswith(",", index):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, index)
        index = _skip(text, index + 1)


def _skip(text: str, index: int) -> int:
    return _SPACE.match(text, index).end()  # type: ignore[union-attr]
