"""Flag metadata and "available to client-side": edited in the API and the admin, audited,
published in the SDK document, and refused with a field-level 400 when malformed."""

import json

import jsonschema
import pytest

from controlplane.audit.models import AuditEntry
from controlplane.documents.services import rebuild
from controlplane.flags.models import Flag
from tests.documents.helpers import SCHEMA, published_document

FLAG_URL = "/api/v1/projects/shop/flags/new-checkout/"


def test_metadata_set_through_the_api_is_audited_and_published(api, checkout_flag, production):
    metadata = {"team": "payments", "ticket": 4711, "ratio": 0.25, "beta": True}
    response = api.patch(FLAG_URL, {"metadata": metadata, "client_side": True, "reason": "ofrep"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["metadata"], response.json()["client_side"]) == (metadata, True)
    entry = AuditEntry.objects.filter(action="flag.update").latest("at")
    assert entry.after["metadata"] == metadata and entry.after["client_side"] is True
    rebuild(production.id)
    document = published_document(production.id)
    jsonschema.validate(document, SCHEMA)
    flag = document["flags"]["new-checkout"]
    assert (flag["metadata"], flag["client_side"]) == (metadata, True)


def test_a_flag_without_metadata_keeps_its_document_form(checkout_flag, production):
    rebuild(production.id)
    flag = published_document(production.id)["flags"]["new-checkout"]
    assert "metadata" not in flag and "client_side" not in flag


def test_metadata_is_given_when_the_flag_is_created(api, project):
    response = api.post(
        "/api/v1/projects/shop/flags/",
        {"key": "with-meta", "metadata": {"owner": "web"}, "client_side": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    flag = Flag.objects.get(key="with-meta")
    assert (flag.metadata, flag.client_side) == ({"owner": "web"}, True)


@pytest.mark.parametrize(
    ("metadata", "field", "words"),
    [
        (["team"], "metadata", "An object"),
        ({"team": {"name": "x"}}, "metadata.team", "a finite number"),
        ({"team": None}, "metadata.team", "a finite number"),
        ({"rule": "x"}, "metadata.rule", "set by each evaluation"),
        ({"bad name": 1}, "metadata.bad name", "Names use"),
        ({"big": 2**60}, "metadata.big", "2^53"),
        ({"long": "x" * 1001}, "metadata.long", "At most 1000"),
    ],
)
def test_malformed_metadata_is_refused_naming_the_field(api, checkout_flag, metadata, field, words):
    response = api.patch(FLAG_URL, {"metadata": metadata}, format="json")
    assert response.status_code == 400
    assert words in " ".join(response.json()[field])
    checkout_flag.refresh_from_db()
    assert checkout_flag.metadata == {}


def test_metadata_and_client_side_are_edited_in_the_admin(client, admin_user, checkout_flag):
    client.force_login(admin_user)
    url = f"/admin/flags/flag/{checkout_flag.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and b"Available to client-side" in page.content
    form = {
        "name": checkout_flag.name,
        "description": "",
        "tags": "",
        "owner": "",
        "kind": "boolean",
        "variant_type": "boolean",
        "variants": json.dumps(checkout_flag.variants),
        "off_variant": "off",
        "salt": "",
        "metadata": '{"team": "payments", "beta": true}',
        "client_side": "on",
        "reason": "for the web app",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    checkout_flag.refresh_from_db()
    assert (checkout_flag.metadata, checkout_flag.client_side) == ({"team": "payments", "beta": True}, True)
    refused = client.post(url, {**form, "metadata": '{"bucket": 3}'})
    assert refused.status_code == 200 and b"set by each evaluation" in refused.content
