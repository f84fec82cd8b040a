"""Writing the audit log. Every domain write function calls ``record`` in its transaction."""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User

from controlplane.audit.models import AuditEntry
from controlplane.observability import context

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who made a change: a person, a person's API token, an operator's command, or the system itself."""

    label: str
    user: User | None = None
    operator: bool = False  # a person at a terminal (a manage.py command), who may have no user account

    @property
    def is_person(self) -> bool:
        """People must say why where an environment requires a reason; the system's own writes carry theirs."""
        return self.user is not None or self.operator

    @property
    def user_or_none(self) -> User | None:
        """The user to store in a foreign key (``created_by``): None for the system, an operator or an unsaved user."""
        return self.user if getattr(self.user, "pk", None) else None

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(label=user.get_username(), user=user)

    @classmethod
    def for_token(cls, token: Any) -> Actor:
        return cls(
            label=f"token:{token.name} ({token.display_prefix}…) of {token.user.get_username()}", user=token.user
        )

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(label=name)

    @classmethod
    def for_command(cls, command: str) -> Actor:
        """An operator running ``manage.py <command>``, named by their login on the machine."""
        try:
            login = getpass.getuser()
        except (OSError, KeyError):  # no login name in a bare container
            login = "unknown"
        return cls(label=f"manage.py {command} ({login})", operator=True)


ROLLOUT_ENGINE = Actor.system("rollout engine")
SYSTEM = Actor.system("system")


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, list[Any]]:
    """{field: [old, new]} for every top-level field whose value changed."""
    before, after = before or {}, after or {}
    return {
        field: [before.get(field), after.get(field)]
        for field in sorted(set(before) | set(after))
        if before.get(field) != after.get(field)
    }


def record(
    actor: Actor,
    action: str,
    obj: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    project: Any = None,
    environment: Any = None,
) -> AuditEntry:
    entry = AuditEntry.objects.create(
        actor=actor.label[:200],
        actor_user=actor.user_or_none,
        action=action,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        project=project,
        environment=environment,
        before=before,
        after=after,
        changes=diff(before, after),
        reason=reason or "",
        request_id=context.request_id.get(),
    )
    _log(entry)
    return entry


def _log(entry: AuditEntry) -> None:
    """One log line per write: who did what to which object (with the request id of the context).

    Written with the entry, inside the write's transaction: a write that then fails is followed
    by that failure's error line, and the audit log (the table) has only what was committed."""
    logger.info(
        "%s %s %s by %s",
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.actor,
        extra={
            "actor": entry.actor,
            "action": entry.action,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "project_id": entry.project_id,
            "environment_id": entry.environment_id,
            "audit_entry_id": entry.pk,
        },
    )
