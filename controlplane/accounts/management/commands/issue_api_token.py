"""``manage.py issue_api_token alice --name deploy --scope write``: print a new API token (once)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from controlplane.accounts.models import ApiToken
from controlplane.accounts.services import issue_api_token
from controlplane.audit.services import Actor
from controlplane.cli import field_errors_as_command_errors


class Command(BaseCommand):
    help = "Issue an API token for a user. The token alone goes to stdout (it is shown once); details to stderr."

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument("--name", required=True, help="Who or what uses it, e.g. deploy-pipeline.")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ)
        parser.add_argument("--reason", default="", help="Why; kept in the audit log.")

    def handle(self, *args, username: str, name: str, scope: str, reason: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        with field_errors_as_command_errors():
            token, plaintext = issue_api_token(
                user, Actor.for_command("issue_api_token"), name=name, scope=scope, reason=reason
            )
        self.stderr.write(f"Issued {scope} token {token.pk} ({token.display_prefix}…) {name!r} for {username}.")
        self.stdout.write(plaintext)
