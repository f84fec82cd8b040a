"""SDK keys and API tokens: issued through the services, plaintext shown once, never the digest; revocable."""

from controlplane.accounts.models import ApiToken
from controlplane.accounts.services import authenticate_api_token
from controlplane.audit.models import AuditEntry
from controlplane.projects import sdk_keys
from controlplane.projects.models import SdkKey

SDK_KEYS = "/admin/projects/sdkkey/"
TOKENS = "/admin/accounts/apitoken/"


def test_issuing_an_sdk_key_shows_the_plaintext_once(admin_client, shop_production):
    response = admin_client.post(
        SDK_KEYS + "add/", {"environment": shop_production.pk, "name": "checkout-service", "reason": "new service"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    sdk_key = SdkKey.objects.get()
    plaintext = html.split('<code style="font-size: 14px; user-select: all">')[1].split("</code>")[0]
    assert plaintext.startswith("fp_srv_")
    assert sdk_keys.authenticate(plaintext).id == sdk_key.id
    assert AuditEntry.objects.filter(action="sdk_key.issue", reason="new service").exists()

    for page in (SDK_KEYS, f"{SDK_KEYS}{sdk_key.pk}/change/"):
        later = admin_client.get(page).content.decode()
        assert plaintext not in later
        assert sdk_key.digest not in later
        assert sdk_key.display_prefix in later


def test_revoking_sdk_keys(admin_client, shop_production):
    admin_client.post(SDK_KEYS + "add/", {"environment": shop_production.pk, "name": "old-service"})
    sdk_key = SdkKey.objects.get()
    response = admin_client.post(SDK_KEYS, {"action": "revoke", "_selected_action": [sdk_key.pk]}, follow=True)
    assert "Revoked 1 SDK key(s)." in response.content.decode()
    sdk_key.refresh_from_db()
    assert sdk_key.revoked_at is not None
    assert AuditEntry.objects.filter(action="sdk_key.revoke", actor="alice").exists()


def test_sdk_keys_cannot_be_edited_or_deleted(admin_client, shop_production):
    admin_client.post(SDK_KEYS + "add/", {"environment": shop_production.pk, "name": "svc"})
    sdk_key = SdkKey.objects.get()
    assert admin_client.post(f"{SDK_KEYS}{sdk_key.pk}/change/", {"name": "renamed"}).status_code == 403
    assert admin_client.post(f"{SDK_KEYS}{sdk_key.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SdkKey.objects.get().name == "svc"


def test_issuing_an_api_token_with_a_scope_shows_the_plaintext_once(admin_client, admin_user):
    response = admin_client.post(TOKENS + "add/", {"user": admin_user.pk, "name": "ci-deploy", "scope": "write"})
    assert response.status_code == 200
    html = response.content.decode()
    plaintext = html.split('<code style="font-size: 14px; user-select: all">')[1].split("</code>")[0]
    token = authenticate_api_token(plaintext)
    assert token is not None
    assert (token.name, token.scope, token.user) == ("ci-deploy", "write", admin_user)
    later = admin_client.get(TOKENS).content.decode()
    assert plaintext not in later
    assert token.digest not in later

    admin_client.post(TOKENS, {"action": "revoke", "_selected_action": [token.pk]})
    assert ApiToken.objects.get().revoked_at is not None
    assert authenticate_api_token(plaintext) is None
    assert AuditEntry.objects.filter(action="api_token.revoke").count() == 1


def test_staff_cannot_issue_a_token_that_acts_as_someone_else(client, admin_user):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    bob = get_user_model().objects.create_user("bob", password="x" * 12, is_staff=True)
    bob.user_permissions.add(*Permission.objects.filter(codename__in=["add_apitoken", "view_apitoken"]))
    client.force_login(bob)
    response = client.post(TOKENS + "add/", {"user": admin_user.pk, "name": "mine-now", "scope": "write"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()  # only bob is offered
    assert not ApiToken.objects.exists()

    client.post(TOKENS + "add/", {"user": bob.pk, "name": "bobs-own", "scope": "read"})
    assert ApiToken.objects.get().user == bob
