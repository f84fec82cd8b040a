"""Staff who may only view flags can preview them but not change targeting or turn them on or off."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission


@pytest.fixture
def viewer_client(client, db):
    viewer = get_user_model().objects.create_user("victor", password="pw-for-viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_flag"))
    client.force_login(viewer)
    return client


def test_a_viewer_can_preview_but_not_change(viewer_client, checkout):
    base = f"/admin/flags/flag/{checkout.pk}/"
    assert viewer_client.get(base + "preview/").status_code == 200
    assert viewer_client.get(base + "targeting/production/").status_code == 403
    assert viewer_client.post(base + "toggle/production/", {"on": "True"}).status_code == 403
    assert not checkout.states.filter(on=True).exists()


def test_anonymous_visitors_are_sent_to_the_login_page(client, checkout):
    response = client.get(f"/admin/flags/flag/{checkout.pk}/targeting/production/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
