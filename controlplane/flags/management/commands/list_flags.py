"""``manage.py list_flags [demo] [--json]``: every flag with what each environment serves."""

import json

from django.core.management.base import BaseCommand
from django.db.models import Prefetch

from controlplane.cli import project_of
from controlplane.flags.models import Flag, FlagState
from controlplane.flags.serving import active_rollouts, rollout_stage, state_summary


class Command(BaseCommand):
    help = 'List flags with what each environment serves ("ON: 25% on / 75% off") and any running rollout.'

    def add_arguments(self, parser):
        parser.add_argument("project", nargs="?", default="", help="Only this project's flags.")
        parser.add_argument("--archived", action="store_true", help="Archived flags instead of active ones.")
        parser.add_argument("--json", action="store_true", dest="as_json", help="One JSON document, for scripts.")

    def handle(self, *args, project: str, archived: bool, as_json: bool, **options):
        states = FlagState.objects.select_related("environment").order_by("environment__position", "environment__key")
        flags = Flag.objects.filter(archived=archived).select_related("project")
        if project:
            flags = flags.filter(project=project_of(project))
        flags = flags.prefetch_related(Prefetch("states", states), active_rollouts()).order_by("project__key", "key")
        rows = [self._row(flag) for flag in flags]
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            self.stdout.write(f"{row['project']}/{row['flag']}")
            for environment, served in row["environments"].items():
                rollout = f"  ({served['rollout']})" if served["rollout"] else ""
                self.stdout.write(f"  {environment:<16} {served['serves']}{rollout}")

    @staticmethod
    def _row(flag: Flag) -> dict:
        rollouts = {plan.environment_id: plan for plan in flag.active_rollouts}
        return {
            "project": flag.project.key,
            "flag": flag.key,
            "environments": {
                state.environment.key: {
                    "on": state.on,
                    "serves": state_summary(state),
                    "rollout": rollout_stage(rollouts[state.environment_id])
                    if state.environment_id in rollouts
                    else None,
                }
                for state in flag.states.all()
            },
        }
