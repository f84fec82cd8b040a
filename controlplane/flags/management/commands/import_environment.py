"""``manage.py import_environment demo staging production.json --dry-run``: make an environment match an export."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from controlplane.audit.services import Actor
from controlplane.cli import environment_of, field_errors_as_command_errors
from controlplane.flags.transfer import DRY_RUN, import_environment


class Command(BaseCommand):
    help = (
        "Import an export_environment file into an environment (of this or another project): missing segments "
        "and flags are created, differing ones updated, on/off and targeting set; nothing else is touched. "
        "All of it or nothing is saved; --dry-run prints the same changes and saves nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("environment")
        parser.add_argument("file", help="The export (- for stdin).")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; save nothing.")
        parser.add_argument("--reason", default="", help="Why; kept in the audit log (required in production).")

    def handle(self, *args, project: str, environment: str, file: str, dry_run: bool, reason: str, **options):
        target = environment_of(project, environment)
        try:
            data = json.loads(sys.stdin.read() if file == "-" else Path(file).read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        if dry_run:
            reason = reason or DRY_RUN  # show the diff; the real run still needs a reason where one is required
        with field_errors_as_command_errors():
            changes = import_environment(
                target, data, Actor.for_command("import_environment"), reason=reason, dry_run=dry_run
            )
        for change in changes:
            for line in change.lines():
                self.stdout.write(line)
        done = "would change" if dry_run else "changed"
        summary = f"{len(changes)} object(s) {done} in {target}" if changes else f"{target} already matches {file}"
        self.stdout.write(summary + (" (dry run: nothing saved)." if dry_run else "."))
