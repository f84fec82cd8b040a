"""What the operator commands (``manage.py issue_api_token``, ``import_environment``, ...) share.

Each command parses its arguments, finds its objects with these helpers and calls one domain
service, as the admin and the API do, so its writes are validated and audited the same way (the
audit log names the command and the operator's login). Problems become ``CommandError``: one
line per problem, and the exit status 1.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.core.management.base import CommandError
from django.db import models

from controlplane.errors import FieldErrors
from controlplane.projects.models import Environment, Project
from controlplane.secrets import Issued, hash_secret


def project_of(key: str) -> Project:
    project = Project.objects.filter(key=key).first()
    if project is None:
        known = ", ".join(Project.objects.values_list("key", flat=True)) or "none yet"
        raise CommandError(f"No project {key!r} (projects: {known}).")
    return project


def environment_of(project_key: str, environment_key: str) -> Environment:
    project = project_of(project_key)
    environment = project.environments.filter(key=environment_key).first()
    if environment is None:
        known = ", ".join(project.environments.values_list("key", flat=True))
        raise CommandError(f"Project {project_key!r} has no environment {environment_key!r} (it has: {known}).")
    return environment


def find_issued(queryset: models.QuerySet[Issued], given: str, what: str) -> Issued:
    """A token or SDK key named by its id, its whole secret, or the prefix that lists show."""
    if given.isdecimal():
        found = list(queryset.filter(pk=int(given)))
    else:
        found = list(queryset.filter(digest=hash_secret(given))) or list(
            queryset.filter(display_prefix__startswith=given)
        )
    if not found:
        raise CommandError(f"No {what} {given!r}: give its id, its prefix (as listed) or the whole secret.")
    if len(found) > 1:
        ids = ", ".join(str(item.pk) for item in found)
        raise CommandError(f"{len(found)} {what}s start with {given!r} (ids {ids}): give the id.")
    return found[0]


@contextlib.contextmanager
def field_errors_as_command_errors() -> Iterator[None]:
    """A domain service's field-level errors, every one, as the command's error message."""
    try:
        yield
    except FieldErrors as exc:
        lines = [f"{path}: {message}" for path, messages in exc.errors.items() for message in messages]
        raise CommandError("Nothing was saved:\n  " + "\n  ".join(lines)) from exc
