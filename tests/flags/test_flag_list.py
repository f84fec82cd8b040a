"""The flag list shows each environment's on/off state and can be searched and filtered."""

import re

from controlplane.audit.services import SYSTEM
from controlplane.flags.models import FlagState
from controlplane.flags.services import set_archived, toggle_flag

URL = "/admin/flags/flag/"


def badges(html: str) -> list[str]:
    """Each environment's line in the list: its key and what it serves."""
    return [
        f"{key} {serves.strip()}"
        for key, serves in re.findall(r'class="fp-badge fp-(?:on|off)"[^>]*>([^<]+)</a>([^<]*)', html)
    ]


def test_each_flag_shows_its_state_in_every_environment_in_position_order(admin_client, checkout, shop_production):
    toggle_flag(FlagState.objects.get(flag=checkout, environment=shop_production), SYSTEM, True)
    html = admin_client.get(URL).content.decode()
    assert badges(html) == ["development OFF: serves off", "staging OFF: serves off", "production ON: serves on"]
    assert f'href="/admin/flags/flag/{checkout.pk}/targeting/production/"' in html


def test_search_looks_in_key_name_and_description(admin_client, checkout, layout):
    html = admin_client.get(URL, {"q": "one-page"}).content.decode()
    assert "new-checkout" in html
    assert "checkout-layout" not in html
    html = admin_client.get(URL, {"q": "layout"}).content.decode()
    assert "checkout-layout" in html
    assert "new-checkout" not in html


def test_tag_filter(admin_client, checkout, layout):
    html = admin_client.get(URL, {"tag": "q3"}).content.decode()
    assert "new-checkout" in html
    assert "checkout-layout" not in html


def test_archived_filter(admin_client, checkout, layout):
    set_archived(checkout, SYSTEM, True)
    html = admin_client.get(URL, {"archived__exact": "1"}).content.decode()
    assert "new-checkout" in html
    assert "checkout-layout" not in html
    html = admin_client.get(URL, {"archived__exact": "0"}).content.decode()
    assert "checkout-layout" in html
    assert "new-checkout" not in html


def test_site_header_is_flagplane(admin_client):
    assert "Flagplane" in admin_client.get("/admin/").content.decode()
