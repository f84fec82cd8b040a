"""What issuing an API token can refuse."""

from __future__ import annotations

from controlplane.errors import FieldErrors


class TokenRefused(FieldErrors):
    """A token someone may not issue (for another person, without being a superuser)."""
