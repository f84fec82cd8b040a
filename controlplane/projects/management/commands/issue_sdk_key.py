"""``manage.py issue_sdk_key demo production --name checkout-service``: print a new SDK key (once)."""

from django.core.management.base import BaseCommand

from controlplane.audit.services import Actor
from controlplane.cli import environment_of
from controlplane.projects.services import issue_sdk_key


class Command(BaseCommand):
    help = "Issue a server-side SDK key for one environment. The key alone goes to stdout; details to stderr."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("environment")
        parser.add_argument("--name", required=True, help="Who uses it, e.g. checkout-service.")
        parser.add_argument("--reason", default="", help="Why; kept in the audit log.")

    def handle(self, *args, project: str, environment: str, name: str, reason: str, **options):
        target = environment_of(project, environment)
        sdk_key, plaintext = issue_sdk_key(target, Actor.for_command("issue_sdk_key"), name, reason)
        self.stderr.write(f"Issued SDK key {sdk_key.pk} ({sdk_key.display_prefix}…) {name!r} for {target}.")
        self.stdout.write(plaintext)
