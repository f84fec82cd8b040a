"""``manage.py copy_targeting demo new-checkout --from staging --to production``: one flag's targeting."""

from django.core.management.base import BaseCommand, CommandError

from controlplane.audit.services import Actor
from controlplane.cli import environment_of, field_errors_as_command_errors
from controlplane.flags.models import Flag
from controlplane.flags.transfer import DRY_RUN, copy_targeting


class Command(BaseCommand):
    help = (
        "Copy a flag's targeting (individual targets, rules, default serve, bucketing) from one environment to "
        "another. On/off stays as it is unless --with-on-off."
    )

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("flag")
        parser.add_argument("--from", dest="source", required=True, metavar="ENVIRONMENT")
        parser.add_argument("--to", dest="target", required=True, metavar="ENVIRONMENT")
        parser.add_argument("--with-on-off", action="store_true", help="Also copy whether the flag is on.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; save nothing.")
        parser.add_argument("--reason", default="", help="Why; kept in the audit log (required in production).")

    def handle(self, *args, project: str, flag: str, source: str, target: str, **options):
        source_environment, target_environment = environment_of(project, source), environment_of(project, target)
        found = Flag.objects.filter(project=source_environment.project, key=flag).first()
        if found is None:
            raise CommandError(f"Project {project!r} has no flag {flag!r}.")
        with field_errors_as_command_errors():
            changes = copy_targeting(
                found,
                source_environment,
                target_environment,
                Actor.for_command("copy_targeting"),
                reason=options["reason"] or (DRY_RUN if options["dry_run"] else ""),
                with_on=options["with_on_off"],
                dry_run=options["dry_run"],
            )
        for change in changes:
            for line in change.lines():
                self.stdout.write(line)
        if not changes:
            self.stdout.write(f"{flag} in {target} already has the targeting it has in {source}.")
        elif options["dry_run"]:
            self.stdout.write("Dry run: nothing saved.")
