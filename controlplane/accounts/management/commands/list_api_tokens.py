"""``manage.py list_api_tokens [--user alice] [--all]``: the API tokens, newest first (never their secrets)."""

from django.core.management.base import BaseCommand

from controlplane.accounts.models import ApiToken


class Command(BaseCommand):
    help = "List API tokens: id, prefix, scope, user, name, created, last used. Revoked ones only with --all."

    def add_arguments(self, parser):
        parser.add_argument("--user", default="", help="Only this user's tokens.")
        parser.add_argument("--all", action="store_true", help="Include revoked tokens.")

    def handle(self, *args, user: str, all: bool, **options):
        tokens = ApiToken.objects.select_related("user")
        if user:
            tokens = tokens.filter(user__username=user)
        if not all:
            tokens = tokens.filter(revoked_at__isnull=True)
        for token in tokens:
            revoked = f"  revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else ""
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            self.stdout.write(
                f"{token.pk:>5}  {token.display_prefix}…  {token.scope:<5}  {token.user.get_username():<16} "
                f"{token.name:<24} created {token.created_at:%Y-%m-%d %H:%M}, last used {used}{revoked}"
            )
