"""Client-side keys and an environment's allowed origins: issued, revoked and edited through the
API and the admin, audited, the key shown once."""

from controlplane.audit.models import AuditEntry
from controlplane.projects.models import ClientKey

KEYS_URL = "/api/v1/projects/shop/environments/production/client-keys/"
ENVIRONMENT_URL = "/api/v1/projects/shop/environments/production/"


def test_a_client_key_is_issued_once_listed_by_prefix_and_revoked(api, production):
    issued = api.post(KEYS_URL, {"name": "storefront-web", "reason": "web app"}, format="json")
    assert issued.status_code == 201, issued.content
    body = issued.json()
    assert body["key"].startswith("fp_cli_") and body["client_side_flags_only"] is True
    listed = api.get(KEYS_URL).json()
    listed = listed.get("results", listed) if isinstance(listed, dict) else listed
    assert "key" not in listed[0] and listed[0]["display_prefix"] == body["key"][:13]
    revoked = api.post(f"{KEYS_URL}{body['id']}/revoke/", {"reason": "leaked"}, format="json")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    actions = list(AuditEntry.objects.filter(object_type="clientkey").values_list("action", flat=True))
    assert sorted(actions) == ["client_key.issue", "client_key.revoke"]
    assert body["key"] not in str(list(AuditEntry.objects.values_list("after", flat=True)))


def test_a_key_may_see_every_flag_when_issued_so(api, production):
    issued = api.post(KEYS_URL, {"name": "internal-tool", "client_side_flags_only": False}, format="json")
    assert ClientKey.objects.get(pk=issued.json()["id"]).client_side_flags_only is False


def test_allowed_origins_are_normalised_and_audited(api, production):
    response = api.patch(
        ENVIRONMENT_URL, {"client_side_origins": ["HTTPS://Shop.example.com/", "http://localhost:3000"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["client_side_origins"] == ["https://shop.example.com", "http://localhost:3000"]
    entry = AuditEntry.objects.filter(action="environment.update").latest("at")
    assert entry.after["client_side_origins"] == ["https://shop.example.com", "http://localhost:3000"]


def test_an_origin_with_a_path_is_refused_naming_it(api, production):
    response = api.patch(
        ENVIRONMENT_URL, {"client_side_origins": ["https://ok.example.com", "https://x.com/app"]}, format="json"
    )
    assert response.status_code == 400
    assert "no path" in response.json()["client_side_origins.1"][0]
    production.refresh_from_db()
    assert production.client_side_origins == []


def test_the_admin_issues_a_client_key_and_edits_origins(client, admin_user, production):
    client.force_login(admin_user)
    added = client.post(
        "/admin/projects/clientkey/add/",
        {"environment": production.pk, "name": "storefront-web", "client_side_flags_only": "on", "reason": "web"},
    )
    assert added.status_code == 200 and b"fp_cli_" in added.content
    assert ClientKey.objects.get().name == "storefront-web"
    url = f"/admin/projects/environment/{production.pk}/change/"
    form = {"name": production.name, "position": production.position, "reason": "web app"}
    saved = client.post(url, {**form, "client_side_origins": "https://shop.example.com\nhttp://localhost:3000"})
    assert saved.status_code == 302, saved.content.decode()[:1500]
    production.refresh_from_db()
    assert production.client_side_origins == ["https://shop.example.com", "http://localhost:3000"]
    refused = client.post(url, {**form, "client_side_origins": "shop.example.com"})
    assert refused.status_code == 200 and b"scheme://host" in refused.content
