"""What a write to flags, flag states or segments can refuse."""

from __future__ import annotations

from controlplane.errors import FieldErrors, PreconditionFailed


class TargetingError(FieldErrors):
    """Invalid variants, targeting or segments."""


class VersionConflict(PreconditionFailed):
    """The caller edited an older version of the flag state than the one stored."""

    def __init__(self, current_version: int):
        super().__init__(
            f"The flag state is at version {current_version}; reload and apply your change again.", current_version
        )
