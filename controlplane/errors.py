"""The three ways a domain write refuses, shared by every app; each app names its own in ``errors.py``.

- ``FieldErrors``: the input is wrong (HTTP 400). ``errors`` is ``{"dotted.path": ["message", ...]}``;
  the admin shows each message next to the field its path names.
- ``Conflict``: the input is fine but the current state does not allow it (HTTP 409).
- ``PreconditionFailed``: the caller changed an older version than the one stored (HTTP 412).

Collect every problem first (``ErrorCollector``), then raise once, so a person fixes all of them in
one go. Nothing is saved when any of these is raised.
"""

from __future__ import annotations


class FieldErrors(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in errors.items()))
        self.errors = errors


class Conflict(Exception):
    """A valid request that the object's current state refuses."""


class PreconditionFailed(Exception):
    """The caller's copy is out of date; ``current_version`` is the stored one."""

    def __init__(self, message: str, current_version: int):
        super().__init__(message)
        self.current_version = current_version


class ErrorCollector:
    def __init__(self, error_class: type[FieldErrors] = FieldErrors) -> None:
        self.by_path: dict[str, list[str]] = {}
        self.error_class = error_class

    def add(self, path: str, message: str) -> None:
        self.by_path.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.by_path:
            raise self.error_class(self.by_path)


def join_path(prefix: str, name: str | int) -> str:
    return f"{prefix}.{name}" if prefix else str(name)
