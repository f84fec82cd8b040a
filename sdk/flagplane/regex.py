"""Regex clauses in time linear in the input: RE2 (the ``google-re2`` binding), never backtracking.

Python's ``re`` backtracks: ``^(a|a)*$`` against 30 ``a`` and a ``!`` runs for minutes, in the
caller's request. RE2 matches with automata, so a search costs at most the pattern's program size
times the input's length, whatever the pattern. Two bounds keep that product small:

* the SDK reads at most ``MAX_INPUT_BYTES`` of an attribute (UTF-8); a longer attribute does not
  convert for ``regex``, so the clause is false whatever ``negate`` says;
* the control plane accepts a pattern only when its RE2 program has at most
  ``MAX_PROGRAM_SIZE`` instructions (``bench/regex_redos.py`` prints what that buys).

Patterns use RE2 syntax (https://github.com/google/re2/wiki/Syntax): no backreferences, no
look-around, ``\\z`` for the end of the text. Without the binding (an install with ``--no-deps``),
a regex clause never matches and one warning says why: refusing is safe, backtracking is not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

try:
    import re2 as _re2
except ImportError:  # pragma: no cover - exercised by a test that hides the module
    _re2 = None

MAX_INPUT_BYTES = 1024
"""A regex clause reads at most this many bytes of an attribute (UTF-8); longer never matches."""

MAX_PROGRAM_SIZE = 200
"""The control plane refuses a pattern whose RE2 program is larger than this."""

logger = logging.getLogger("flagplane")
_warned_unavailable = False


class RegexError(ValueError):
    """A pattern RE2 cannot compile; ``index`` says which of a clause's values it is."""

    def __init__(self, message: str, index: int = 0) -> None:
        super().__init__(message)
        self.index = index


class _Compiled(Protocol):
    programsize: int

    def search(self, text: bytes) -> Any: ...


def available() -> bool:
    """Whether regex clauses can be evaluated here (the ``google-re2`` binding is installed)."""
    return _re2 is not None


def compile_pattern(source: str, case_insensitive: bool = False) -> _Compiled:
    """The RE2 program of ``source``; ``RegexError`` if RE2 refuses it or is not installed."""
    if _re2 is None:
        raise RegexError("regex clauses need the google-re2 package, which is not installed")
    options = _re2.Options()
    options.case_sensitive = not case_insensitive
    options.log_errors = False
    try:
        compiled: _Compiled = _re2.compile(source, options)
    except _re2.error as exc:
        raise RegexError(_message(exc)) from None
    except UnicodeEncodeError:
        raise RegexError("the pattern is not valid Unicode (a lone surrogate)") from None
    return compiled


def _message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


def bounded_utf8(value: Any) -> bytes | None:
    """A string attribute as the bytes a regex reads; None if it is not a string or is too long."""
    if value.__class__ is not str or len(value) > MAX_INPUT_BYTES:
        return None
    data = value.encode("utf-8", "surrogatepass")
    return data if len(data) <= MAX_INPUT_BYTES else None


def search_test(sources: Sequence[str], case_insensitive: bool) -> Callable[[bytes], bool]:
    """A test that is true when any pattern matches somewhere in the bytes it is given.

    Raises ``RegexError`` (with the pattern's index) for a pattern RE2 refuses. Without RE2 the
    patterns are not checked and the test is never called: ``regex_converter`` turns every
    attribute into "does not convert".
    """
    if _re2 is None:
        _warn_unavailable()
        return lambda data: False
    patterns = []
    for index, source in enumerate(sources):
        try:
            patterns.append(compile_pattern(source, case_insensitive))
        except RegexError as exc:
            raise RegexError(str(exc), index) from None
    if len(patterns) == 1:
        search = patterns[0].search
        return lambda data: search(data) is not None
    return lambda data: any(pattern.search(data) is not None for pattern in patterns)


def regex_converter() -> Callable[[Any], bytes | None]:
    """How a regex clause reads its attribute: bounded UTF-8 with RE2, nothing without it."""
    if _re2 is None:
        return lambda value: None
    return bounded_utf8


def _warn_unavailable() -> None:
    global _warned_unavailable
    if not _warned_unavailable:
        _warned_unavailable = True
        logger.warning(
            "flagplane: regex clauses never match: install google-re2 (pip install google-re2), "
            "the linear-time engine they need"
        )
