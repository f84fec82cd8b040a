"""Field-level validation errors shared by every domain: ``{"dotted.path": ["message", ...]}``.

The API turns ``FieldErrors`` into HTTP 400 with that body; the admin shows the messages next to
the fields. Collect every problem first, then raise once, so a person fixes all of them in one go.
"""

from __future__ import annotations


class FieldErrors(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in errors.items()))
        self.errors = errors


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
