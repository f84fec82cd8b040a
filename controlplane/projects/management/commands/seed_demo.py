"""Create the demo project, its flags, an admin user, an API token and an SDK key.

Idempotent: running it again creates nothing twice, issues no new credentials and leaves the admin
password alone. Only hashes of tokens and keys are in the database, so the demo's credentials are
kept in ``DEMO_CREDENTIALS_FILE`` (``.demo-credentials.json``, mode 600, like ``.secret_key``) and
printed again from there. A stored token or key that no longer works (revoked, or another database)
is replaced, and demo credentials whose plaintext is lost are revoked. The last line printed is one
JSON object with the credentials (``admin_password`` is null once someone changed the password).
"""

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from controlplane.accounts.models import ApiToken
from controlplane.accounts.services import authenticate_api_token, issue_api_token, revoke_api_token
from controlplane.audit.services import Actor
from controlplane.documents.services import rebuild
from controlplane.flags.models import Flag, Segment
from controlplane.flags.services import create_flag, create_segment, get_state, update_flag_state
from controlplane.projects import sdk_keys
from controlplane.projects.models import Environment, Project, SdkKey
from controlplane.projects.services import create_project, issue_sdk_key, revoke_sdk_key

SEED = Actor.system("seed_demo")
PROJECT_KEY = "demo"
TOKEN_NAME = "demo-automation"
SDK_KEY_NAME = "demo-service"
LOST = "issued by an earlier seed_demo whose plaintext is lost"

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
    help = "Create (or complete) the demo project and print working credentials as JSON (the same ones every run)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password", default="", help="Set the admin's password (default: random when the user is created)."
        )

    def handle(self, *args, username: str, password: str, **options):
        path = Path(settings.DEMO_CREDENTIALS_FILE)
        stored = read_credentials(path)
        with transaction.atomic():
            project = seed_project()
            production = project.environments.get(key="production")
            user, admin_password = self._admin(username, password, stored.get("admin_password"))
            api_token, token_news = demo_api_token(user, stored.get("api_token", ""))
            sdk_key, key_news = demo_sdk_key(production, stored.get("sdk_key", ""))
        for environment in project.environments.all():
            rebuild(environment.id)
        credentials = {
            "admin_user": username,
            "admin_password": admin_password,
            "api_token": api_token,
            "sdk_key": sdk_key,
        }
        write_credentials(path, credentials)
        self.stdout.write(f"Seeded project {PROJECT_KEY!r} with {len(FLAGS)} flags.")
        self.stdout.write(f"API token: {token_news}. SDK key: {key_news}. Kept in {path.name}.")
        if admin_password is None:
            self.stdout.write(
                f"The password of {username!r} was changed since it was seeded and is left as it is "
                f"(`manage.py changepassword {username}`, or seed_demo --password ...)."
            )
        self.stdout.write(json.dumps(credentials))

    def _admin(self, username: str, password: str, stored_password: str | None):
        """The demo's superuser and its password as far as it is known: set only when asked or when created."""
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@localhost"}
        )
        if not (user.is_staff and user.is_superuser):
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        if password or created:
            password = password or secrets.token_urlsafe(12)
            user.set_password(password)
            user.save(update_fields=["password"])
            return user, password
        if stored_password and user.check_password(stored_password):
            return user, stored_password
        return user, None


def seed_project() -> Project:
    """The demo project, its segment and flags; whatever exists already is kept as it is."""
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
    return project


def demo_api_token(user, stored: str) -> tuple[str, str]:
    """The stored write token if it still works for ``user``; otherwise a new one (the lost ones revoked)."""
    token = authenticate_api_token(stored) if stored else None
    if token is not None and token.user_id == user.pk and token.can_write:
        return stored, "unchanged"
    lost = ApiToken.objects.filter(user=user, name=TOKEN_NAME, revoked_at__isnull=True)
    revoked = [revoke_api_token(old, SEED, reason=LOST) for old in lost]
    _, plaintext = issue_api_token(user, SEED, name=TOKEN_NAME, scope="write")
    return plaintext, "issued" + (f", {len(revoked)} earlier one(s) revoked" if revoked else "")


def demo_sdk_key(environment: Environment, stored: str) -> tuple[str, str]:
    """The stored SDK key if it still reads ``environment``; otherwise a new one (the lost ones revoked)."""
    sdk_key = sdk_keys.authenticate(stored) if stored else None
    if sdk_key is not None and sdk_key.environment_id == environment.pk:
        return stored, "unchanged"
    lost = SdkKey.objects.filter(environment=environment, name=SDK_KEY_NAME, revoked_at__isnull=True)
    revoked = [revoke_sdk_key(old, SEED, reason=LOST) for old in lost]
    _, plaintext = issue_sdk_key(environment, SEED, SDK_KEY_NAME)
    return plaintext, "issued" + (f", {len(revoked)} earlier one(s) revoked" if revoked else "")


def read_credentials(path: Path) -> dict:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def write_credentials(path: Path, credentials: dict) -> None:
    """Replace the file in one step, readable by its owner only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(credentials, file)
    os.replace(temporary, path)
