"""What an OFREP evaluation can refuse."""

from __future__ import annotations


class BadRequest(Exception):
    """A request body OFREP cannot evaluate: ``code`` is PARSE_ERROR or INVALID_CONTEXT."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
