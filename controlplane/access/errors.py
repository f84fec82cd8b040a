"""How a role change refuses."""

from controlplane.errors import FieldErrors


class RoleError(FieldErrors):
    """A role assignment that cannot be made (unknown role, an environment of another project)."""
