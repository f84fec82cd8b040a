"""Fixtures of the admin tests: a signed-in superuser and a project with flags, made through the services."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from controlplane.audit.services import SYSTEM
from controlplane.flags.models import Flag, FlagState
from controlplane.flags.services import create_flag
from controlplane.projects.models import Environment, Project
from controlplane.projects.services import create_project


@pytest.fixture
def admin_user(db):
    """The user behind pytest-django's ``admin_client``."""
    return get_user_model().objects.create_superuser("alice", "alice@example.com", "correct horse battery")


@pytest.fixture
def shop(db) -> Project:
    return create_project(SYSTEM, key="shop", name="Shop", environments=["development", "staging", "production"])


@pytest.fixture
def production(shop) -> Environment:
    return shop.environments.get(key="production")


@pytest.fixture
def checkout(shop) -> Flag:
    """A boolean flag, off everywhere."""
    return create_flag(
        shop,
        SYSTEM,
        key="new-checkout",
        name="New checkout",
        description="The one-page checkout",
        tags=["checkout", "q3"],
    )


@pytest.fixture
def layout(shop) -> Flag:
    """A multivariate string flag."""
    return create_flag(
        shop,
        SYSTEM,
        key="checkout-layout",
        kind="multivariate",
        variants=[{"key": "control", "value": "control"}, {"key": "compact", "value": "compact"}],
        off_variant="control",
        tags=["layout"],
    )


@pytest.fixture
def checkout_in_production(checkout, production) -> FlagState:
    return FlagState.objects.get(flag=checkout, environment=production)


@pytest.fixture
def targeting_post():
    """Build the targeting page's POST data (see _targeting_post)."""
    return _targeting_post


def _targeting_post(state: FlagState, **overrides) -> dict:
    """What the targeting page posts with nothing changed, plus the given fields (no rules, one empty extra)."""
    variants = state.flag.variant_keys()
    data = {
        "version": str(state.version),
        "clause_rows": "4",
        "bucket_by": state.bucket_by,
        "serve_mode": "variant",
        "serve_variant": state.default_serve.get("variant", ""),
        "split_order": ",".join(variants),
        "reason": "tested in staging",  # production requires a reason
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-serve_mode": "variant",
        "rules-0-split_order": ",".join(variants),
    }
    data.update(overrides)
    return data
