"""Swagger UI lists every operation under its domain's tag with a summary, and names each key in a
URL the same way everywhere (``{flag_key}``, never ``{key}`` on one path and ``{flag_key}`` on another)."""

import re

import pytest
from rest_framework.test import APIClient

from controlplane.api.schema import TAGS

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema():
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_operation_has_a_domain_tag_and_a_summary(schema):
    declared = [tag["name"] for tag in TAGS]
    assert [tag["name"] for tag in schema["tags"]] == declared
    untagged = [
        f"{m} {p}: {o.get('tags')}" for m, p, o in operations(schema) if not set(o.get("tags", [])) & set(declared)
    ]
    assert untagged == []
    assert not any("v1" in o.get("tags", []) for _, _, o in operations(schema))
    unsummarised = [f"{m} {p}" for m, p, o in operations(schema) if not o.get("summary", "").strip()]
    assert unsummarised == []


def test_every_tag_is_described_and_used(schema):
    used = {tag for _, _, o in operations(schema) for tag in o["tags"]}
    assert [tag["name"] for tag in TAGS if not tag.get("description") or tag["name"] not in used] == []


def test_no_two_operations_share_a_summary(schema):
    summaries = [o["summary"] for _, _, o in operations(schema)]
    assert sorted({s for s in summaries if summaries.count(s) > 1}) == []


def test_the_flag_key_is_called_flag_key_on_every_path(schema):
    flag_paths = [path for path in schema["paths"] if "/flags/{" in path]
    assert flag_paths and all("/flags/{flag_key}/" in path for path in flag_paths)
    for path in schema["paths"]:
        assert "{key}" not in path, path
        for collection, name in re.findall(r"/([a-z-]+)/\{([a-z_]+)\}", path):
            assert name == "id" or name == collection.rstrip("s").replace("-", "_") + "_key", path


@pytest.mark.django_db
def test_the_flag_endpoints_answer_on_their_paths(api, checkout_flag):
    """The URLs stayed the same; only their parameters' names changed."""
    assert api.get("/api/v1/projects/shop/").status_code == 200
    assert api.get("/api/v1/projects/shop/environments/production/").status_code == 200
    assert api.get("/api/v1/projects/shop/flags/new-checkout/").status_code == 200
    assert api.get("/api/v1/projects/shop/flags/new-checkout/environments/production/").status_code == 200
    preview = {"environment": "production", "context": {"key": "user-1"}}
    assert api.post("/api/v1/projects/shop/flags/new-checkout/preview/", preview, format="json").status_code == 200
