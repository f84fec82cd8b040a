"""``manage.py revoke_sdk_key fp_srv_AbCdEf``: revoke an SDK key by id, listed prefix or whole key."""

from django.core.management.base import BaseCommand

from controlplane.audit.services import Actor
from controlplane.cli import find_issued
from controlplane.projects.models import SdkKey
from controlplane.projects.services import revoke_sdk_key


class Command(BaseCommand):
    help = "Revoke an SDK key: SDKs using it get 401 from now on."

    def add_arguments(self, parser):
        parser.add_argument("key", help="Its id, its prefix as list_sdk_keys shows it, or the whole key.")
        parser.add_argument("--reason", default="", help="Why; kept in the audit log.")

    def handle(self, *args, key: str, reason: str, **options):
        found = find_issued(SdkKey.objects.select_related("environment__project"), key, "SDK key")
        if not found.is_active:
            self.stdout.write(f"SDK key {found.pk} ({found.display_prefix}…) was already revoked.")
            return
        revoke_sdk_key(found, Actor.for_command("revoke_sdk_key"), reason)
        self.stdout.write(
            f"Revoked SDK key {found.pk} ({found.display_prefix}…) {found.name!r} of {found.environment}."
        )
