"""``manage.py list_sdk_keys [demo [production]] [--all]``: the SDK keys, newest first (never the keys)."""

from django.core.management.base import BaseCommand

from controlplane.projects.models import SdkKey


class Command(BaseCommand):
    help = "List SDK keys: id, prefix, environment, name, created, last used. Revoked ones only with --all."

    def add_arguments(self, parser):
        parser.add_argument("project", nargs="?", default="")
        parser.add_argument("environment", nargs="?", default="")
        parser.add_argument("--all", action="store_true", help="Include revoked keys.")

    def handle(self, *args, project: str, environment: str, all: bool, **options):
        keys = SdkKey.objects.select_related("environment__project")
        if project:
            keys = keys.filter(environment__project__key=project)
        if environment:
            keys = keys.filter(environment__key=environment)
        if not all:
            keys = keys.filter(revoked_at__isnull=True)
        for key in keys:
            revoked = f"  revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            self.stdout.write(
                f"{key.pk:>5}  {key.display_prefix}…  {key.environment!s:<24} {key.name:<24} "
                f"created {key.created_at:%Y-%m-%d %H:%M}, last used {used}{revoked}"
            )
