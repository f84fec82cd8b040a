"""Exceptions raised by the evaluation engine."""

from __future__ import annotations


class InvalidDocument(ValueError):
    """The SDK document (or one flag/segment of it) is malformed.

    ``path`` names the offending field, e.g. ``flags["checkout"].rules[0].clauses[1].op``.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
