"""A viewer of the project can preview its flags but not change targeting or turn them on or off;
staff without a role see nothing, whatever Django permissions they hold."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from controlplane.access.services import grant_role
from controlplane.audit.services import SYSTEM


@pytest.fixture
def viewer_client(client, shop):
    viewer = get_user_model().objects.create_user("victor", password="pw-for-viewer", is_staff=True)
    grant_role(shop, viewer, "viewer", SYSTEM)
    client.force_login(viewer)
    return client


def test_staff_with_model_permissions_but_no_role_see_no_flag(client, checkout):
    staff = get_user_model().objects.create_user("stan", password="pw-for-staff", is_staff=True)
    granted = ["view_flag", "change_flag", "change_flagstate"]
    staff.user_permissions.add(*Permission.objects.filter(codename__in=granted))
    client.force_login(staff)
    assert client.get("/admin/flags/flag/").status_code == 403  # no module they may see
    assert client.get(f"/admin/flags/flag/{checkout.pk}/targeting/production/").status_code in (302, 403, 404)
    assert client.post(f"/admin/flags/flag/{checkout.pk}/toggle/production/", {"on": "True"}).status_code != 302
    assert not checkout.states.filter(on=True).exists()


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
