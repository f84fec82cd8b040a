"""Fixtures of the admin's tests (registered in the root conftest.py): a "shop" project with three
environments and two flags, made through the services. The root ``project`` is a smaller shop (no
staging); a test uses one or the other."""

from __future__ import annotations

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.flags.models import Flag, FlagState
from controlplane.flags.services import create_flag
from controlplane.projects.models import Environment, Project
from controlplane.projects.services import create_project


@pytest.fixture
def shop(db) -> Project:
    return create_project(SYSTEM, key="shop", name="Shop", environments=["development", "staging", "production"])


@pytest.fixture
def shop_production(shop) -> Environment:
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
def checkout_in_production(checkout, shop_production) -> FlagState:
    return FlagState.objects.get(flag=checkout, environment=shop_production)
