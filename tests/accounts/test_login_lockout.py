"""Repeated wrong passwords lock a username out from that address: 429 with Retry-After, even with the right one."""

import pytest
from axes.models import AccessAttempt
from django.test import Client

pytestmark = pytest.mark.django_db

RIGHT = "correct horse battery"


def sign_in(client: Client, password: str, url: str = "/admin/login/"):
    return client.post(url, {"username": "alice", "password": password, "next": "/admin/"})


def test_after_five_wrong_passwords_the_right_one_is_refused_for_a_while(admin_user):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(4):
        assert sign_in(client, "guess").status_code == 200  # the form again, with its error
    locked = sign_in(client, "guess")
    assert locked.status_code == 429
    response = sign_in(client, RIGHT)
    assert response.status_code == 429
    assert response["Retry-After"] == "900"  # LOGIN_LOCKOUT_MINUTES (15) in seconds
    assert "locked for 15 minutes, even with the right password" in response.content.decode()
    assert client.get("/admin/").status_code == 302  # still not signed in


def test_the_lockout_covers_the_api_sign_in_page_too(admin_user):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(5):
        sign_in(client, "guess", url="/api-auth/login/")
    assert sign_in(client, RIGHT, url="/api-auth/login/").status_code == 429
    assert sign_in(client, RIGHT).status_code == 429  # the same username and address in the admin


def test_the_same_username_from_another_address_still_signs_in(admin_user):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(5):
        sign_in(attacker, "guess")
    colleague = Client(REMOTE_ADDR="198.51.100.20")
    assert sign_in(colleague, RIGHT).status_code == 302


def test_a_superuser_unlocks_by_deleting_the_access_attempt(admin_user):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(5):
        sign_in(client, "guess")
    assert sign_in(client, RIGHT).status_code == 429
    AccessAttempt.objects.filter(username="alice").delete()
    assert sign_in(client, RIGHT).status_code == 302


def test_a_right_password_before_the_limit_clears_the_count(admin_user):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(4):
        sign_in(client, "guess")
    assert sign_in(client, RIGHT).status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, "guess")
    assert sign_in(client, RIGHT).status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_counts(admin_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(5):
        sign_in(Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7"), "guess")
    assert sign_in(Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7"), RIGHT).status_code == 429
    assert sign_in(Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.20"), RIGHT).status_code == 302
