"""What a write to projects, environments or SDK keys can refuse."""

from __future__ import annotations

from controlplane.errors import FieldErrors


class DuplicateKey(FieldErrors):
    """A key that is taken, or a key someone tried to change."""

    def __init__(self, field: str, message: str):
        super().__init__({field: [message]})
