"""``manage.py export_environment demo production > production.json``: an environment's flags as JSON."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand

from controlplane.cli import environment_of
from controlplane.flags.transfer import export_environment


class Command(BaseCommand):
    help = (
        "Write one environment's flags (definitions, on/off and targeting) and its project's segments as JSON, "
        "for import_environment."
    )

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("environment")
        parser.add_argument("-o", "--output", default="-", help="A file to write (default: stdout).")

    def handle(self, *args, project: str, environment: str, output: str, **options):
        text = json.dumps(export_environment(environment_of(project, environment)), indent=2, ensure_ascii=False)
        if output == "-":
            self.stdout.write(text)
        else:
            Path(output).write_text(text + "\n")
            self.stderr.write(f"Wrote {project}/{environment} to {output}.")
