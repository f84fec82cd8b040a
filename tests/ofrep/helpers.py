"""The flags every OFREP test evaluates, in a project "shop" (production), and the keys to them."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.audit.services import SYSTEM
from controlplane.documents.services import rebuild
from controlplane.flags.services import create_flag, get_state, update_flag_state
from controlplane.projects.models import Environment
from controlplane.projects.services import create_project, issue_client_key, issue_sdk_key, update_environment

PRO_RULE = {
    "id": "pro",
    "clauses": [{"attribute": "plan", "op": "equals", "values": ["pro"]}],
    "serve": {"variant": "on"},
}


@dataclass
class World:
    environment: Environment
    server_key: str
    client_key: str


def on(flag, environment, **state) -> None:
    update_flag_state(get_state(flag, environment), SYSTEM, {"on": True, **state})


def make_world(origins: list[str] | None = None) -> World:
    project = create_project(SYSTEM, key="shop", environments=["development", "production"])
    production = project.environments.get(key="production")
    checkout = create_flag(project, SYSTEM, key="new-checkout", client_side=True, metadata={"team": "payments"})
    on(checkout, production, rules=[PRO_RULE], default_serve={"variant": "off"})
    banner = create_flag(
        project, SYSTEM, key="banner-text", kind="multivariate", variant_type="string", client_side=True,
        variants=[{"key": "hello", "value": "Hello"}, {"key": "sale", "value": "Sale!"}],
    )  # fmt: skip
    on(banner, production, default_serve={"variant": "hello"})
    items = create_flag(
        project, SYSTEM, key="max-items", kind="multivariate", variant_type="number", client_side=True,
        variants=[{"key": "few", "value": 10}, {"key": "many", "value": 25}],
    )  # fmt: skip
    on(items, production, default_serve={"variant": "many"})
    theme = create_flag(
        project, SYSTEM, key="theme", kind="multivariate", variant_type="json", client_side=True,
        variants=[{"key": "light", "value": {"dark": False}}, {"key": "dark", "value": {"dark": True, "n": 3}}],
    )  # fmt: skip
    on(theme, production, default_serve={"variant": "dark"})
    create_flag(project, SYSTEM, key="killed", client_side=True)  # off: the kill switch
    server_only = create_flag(project, SYSTEM, key="server-only")
    on(server_only, production, default_serve={"variant": "on"})
    if origins:
        update_environment(production, SYSTEM, {"client_side_origins": origins})
    rebuild(production.id)
    _, server_key = issue_sdk_key(production, SYSTEM, "backend")
    _, client_key = issue_client_key(production, SYSTEM, "storefront-web")
    return World(Environment.objects.get(pk=production.pk), server_key, client_key)
