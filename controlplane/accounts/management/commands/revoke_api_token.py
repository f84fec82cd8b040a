"""``manage.py revoke_api_token fp_api_AbCdEf``: revoke an API token by id, listed prefix or whole secret."""

from django.core.management.base import BaseCommand

from controlplane.accounts.models import ApiToken
from controlplane.accounts.services import revoke_api_token
from controlplane.audit.services import Actor
from controlplane.cli import find_issued


class Command(BaseCommand):
    help = "Revoke an API token: requests with it get 401 from now on."

    def add_arguments(self, parser):
        parser.add_argument("token", help="Its id, its prefix as list_api_tokens shows it, or the whole token.")
        parser.add_argument("--reason", default="", help="Why; kept in the audit log.")

    def handle(self, *args, token: str, reason: str, **options):
        found = find_issued(ApiToken.objects.select_related("user"), token, "API token")
        if not found.is_active:
            self.stdout.write(f"API token {found.pk} ({found.display_prefix}…) was already revoked.")
            return
        revoke_api_token(found, Actor.for_command("revoke_api_token"), reason)
        self.stdout.write(f"Revoked API token {found.pk} ({found.display_prefix}…) {found.name!r} of {found.user}.")
