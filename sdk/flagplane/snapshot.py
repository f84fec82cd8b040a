"""What a document compiles to: a ``Snapshot`` of ``CompiledFlag``s, which ``engine.resolve``
evaluates and ``compiler`` builds, and the ``Reason`` an evaluation gives.

Plain data with slots, read on the evaluation hot path: no behaviour beyond two small accessors.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flagplane.operators import Matcher


class Reason(StrEnum):
    """Why an evaluation produced its value. Members are plain strings ("OFF", ...)."""

    OFF = "OFF"
    TARGET = "TARGET"
    RULE_MATCH = "RULE_MATCH"
    SPLIT = "SPLIT"
    DEFAULT = "DEFAULT"
    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    NOT_READY = "NOT_READY"
    ERROR = "ERROR"


class CompiledServe:
    """A rule's or the fallthrough's serve: one variant, or a cumulative split."""

    __slots__ = ("fixed", "last_index", "slices")

    def __init__(self, fixed: int | None, slices: tuple[tuple[int, int], ...]) -> None:
        self.fixed = fixed
        #: ((cumulative threshold, variant index), ...); empty for a fixed serve
        self.slices = slices
        self.last_index = slices[-1][1] if slices else -1


class CompiledRule:
    __slots__ = ("id", "matchers", "serve")

    def __init__(self, rule_id: str, matchers: tuple[Matcher, ...], serve: CompiledServe) -> None:
        self.id = rule_id
        self.matchers = matchers
        self.serve = serve


class CompiledFlag:
    """One flag compiled for fast evaluation. Treat as immutable except ``counts``.

    Fast-path attributes (``None`` when they do not apply):

    * ``constant_index``: the variant served whatever the context (flag off, or on with no
      targets, no rules and a fixed default); ``constant_reason`` is OFF or DEFAULT.
    * ``key_slices``: ((threshold, variant index), ...) when the flag is on with no targets or
      rules, falls through to a split and buckets by ``key``: a plain string context is enough.

    Descriptive attributes: ``metadata`` (the flag's metadata, string/number/boolean values),
    ``client_side`` (available to client-side keys), ``integral`` (every variant value is an
    integral number, so the flag reads as an integer whatever it serves).
    """

    __slots__ = (
        "bucket_by",
        "client_side",
        "constant_index",
        "constant_reason",
        "copy_values",
        "counts",
        "default",
        "integral",
        "is_boolean",
        "key",
        "key_slices",
        "kind",
        "metadata",
        "off_index",
        "on",
        "reported",
        "rules",
        "salt",
        "salt_prefix",
        "targets",
        "values",
        "variant_keys",
        "variant_type",
        "version",
    )

    key: str
    kind: str
    variant_type: str
    version: int
    on: bool
    salt: str
    salt_prefix: str
    bucket_by: str
    variant_keys: tuple[str, ...]
    values: tuple[Any, ...]
    copy_values: bool
    is_boolean: bool
    off_index: int
    targets: Mapping[str, int]
    rules: tuple[CompiledRule, ...]
    default: CompiledServe
    constant_index: int | None
    constant_reason: str
    key_slices: tuple[tuple[int, int], ...] | None
    counts: list[int]
    reported: list[int] | None
    metadata: Mapping[str, str | int | float | bool]
    client_side: bool
    integral: bool

    @property
    def is_static(self) -> bool:
        """On, with no targets and no rules, serving one fixed variant: context plays no part."""
        return self.on and self.constant_index is not None

    def value_at(self, index: int) -> Any:
        """The value of variant ``index``; JSON objects/arrays are copied so callers may mutate."""
        value = self.values[index]
        return copy.deepcopy(value) if self.copy_values else value


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable compiled document. Swap a whole snapshot to change what is served."""

    schema_version: int
    project: str
    environment: str
    version: int
    flags: Mapping[str, CompiledFlag]
    segments: Mapping[str, Matcher]
