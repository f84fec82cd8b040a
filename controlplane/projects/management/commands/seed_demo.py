"""Create the demo project, its flags, an admin user, an API token and an SDK key.

Idempotent: existing objects are kept; credentials are issued fresh on every run because only
their hashes are stored. The last line printed is one JSON object with the credentials.
"""

import json
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from controlplane.accounts.services import issue_api_token
from controlplane.audit.services import Actor
from controlplane.documents.services import rebuild
from controlplane.flags.models import Flag, Segment
from controlplane.flags.services import create_flag, create_segment, get_state, update_flag_state
from controlplane.projects.models import Project
from controlplane.projects.services import create_project, issue_sdk_key

SEED = Actor.system("seed_demo")
PROJECT_KEY = "demo"

FLAGS = [
    {
        "key": "payments-enabled",
        "name": "Payments enabled",
        "description": "Kill switch for the payment provider integration.",
        "tags": ["kill-switch", "payments"],
        "owner": "payments-team",
        "state": {"on": True, "default_serve": {"variant": "on"}},
    },
    {
        "key": "new-checkout",
        "name": "New checkout",
        "description": "The redesigned checkout flow, rolled out to 10% of users.",
        "tags": ["checkout", "rollout"],
        "owner": "checkout-team",
        "state": {
            "on": True,
            "default_serve": {"split": [{"variant": "on", "weight": 10_000}, {"variant": "off", "weight": 90_000}]},
        },
    },
    {
        "key": "free-plan-upsell",
        "name": "Upsell banner for free plans",
        "description": "Shows the upgrade banner to users on the free plan and to beta testers.",
        "tags": ["growth"],
        "owner": "growth-team",
        "state": {
            "on": True,
            "rules": [
                {
                    "id": "free-plan",
                    "description": "Users on the free plan",
                    "clauses": [{"attribute": "plan", "op": "equals", "values": ["free"]}],
                    "serve": {"variant": "on"},
                },
                {
                    "id": "beta",
                    "description": "Beta testers",
                    "clauses": [{"attribute": "key", "op": "in_segment", "values": ["beta-testers"]}],
                    "serve": {"variant": "on"},
                },
            ],
            "default_serve": {"variant": "off"},
        },
    },
    {
        "key": "checkout-layout",
        "name": "Checkout layout experiment",
        "description": "Which checkout layout a user sees.",
        "tags": ["checkout", "experiment"],
        "owner": "checkout-team",
        "kind": "multivariate",
        "variant_type": "string",
        "variants": [
            {"key": "control", "value": "control"},
            {"key": "compact", "value": "compact"},
            {"key": "wide", "value": "wide"},
        ],
        "off_variant": "control",
        "state": {
            "on": True,
            "default_serve": {
                "split": [
                    {"variant": "control", "weight": 34_000},
                    {"variant": "compact", "weight": 33_000},
                    {"variant": "wide", "weight": 33_000},
                ]
            },
        },
    },
]


class Command(BaseCommand):
    help = "Create (or complete) the demo project and print working credentials as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="", help="Default: a fresh random password.")

    def handle(self, *args, username: str, password: str, **options):
        with transaction.atomic():
            project = Project.objects.filter(key=PROJECT_KEY).first() or create_project(
                SEED, key=PROJECT_KEY, name="Demo shop", environments=["development", "production"]
            )
            if not Segment.objects.filter(project=project, key="beta-testers").exists():
                create_segment(
                    project,
                    SEED,
                    key="beta-testers",
                    name="Beta testers",
                    included=["user-1", "user-2", "user-3"],
                    rules=[{"clauses": [{"attribute": "email", "op": "ends_with", "values": ["@example.com"]}]}],
                )
            production = project.environments.get(key="production")
            for spec in FLAGS:
                spec = dict(spec)
                state = spec.pop("state")
                if Flag.objects.filter(project=project, key=spec["key"]).exists():
                    continue
                flag = create_flag(project, SEED, **spec)
                update_flag_state(get_state(flag, production), SEED, state, reason="demo seed")
            user = self._admin(username, password or secrets.token_urlsafe(12))
            _, api_token = issue_api_token(user, SEED, name="demo-automation", scope="write")
            _, sdk_key = issue_sdk_key(production, SEED, "demo-service")
        for environment in project.environments.all():
            rebuild(environment.id)
        self.stdout.write(f"Seeded project {PROJECT_KEY!r} with {len(FLAGS)} flags.")
        self.stdout.write(
            json.dumps(
                {"admin_user": username, "admin_password": self._password, "api_token": api_token, "sdk_key": sdk_key}
            )
        )

    def _admin(self, username: str, password: str):
        user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": f"{username}@localhost"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self._password = password
        return user
