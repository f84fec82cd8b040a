"""Built SDK documents are shown read-only: version, ETag, build time and size."""

from django.contrib import admin

from controlplane.audit.services import SYSTEM
from controlplane.documents.models import EnvironmentDocument
from controlplane.documents.services import rebuild
from controlplane.flags.services import get_state, toggle_flag

URL = "/admin/documents/environmentdocument/"


def test_documents_are_listed_and_shown_read_only(admin_client, admin_user, rf, checkout, shop_production):
    document = rebuild(shop_production.pk)
    html = admin_client.get(URL).content.decode()
    assert document.etag.replace('"', "&quot;") in html
    assert " B</td>" in html or "KiB</td>" in html
    detail = admin_client.get(f"{URL}{document.pk}/change/").content.decode()
    assert "new-checkout" in detail
    assert 'name="_save"' not in detail

    request = rf.get(URL)
    request.user = admin_user
    model_admin = admin.site._registry[EnvironmentDocument]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, document)
    assert not model_admin.has_delete_permission(request, document)


def test_the_environment_list_says_what_sdks_have_and_when_they_are_behind(admin_client, checkout, shop_production):
    document = rebuild(shop_production.pk)
    url = "/admin/projects/environment/"
    assert f"v{document.version}, up to date" in admin_client.get(url).content.decode()

    toggle_flag(get_state(checkout, shop_production), SYSTEM, True, "launch")
    assert f"v{document.version}, 1 change waiting since" in admin_client.get(url).content.decode()

    rebuild(shop_production.pk)
    assert f"v{document.version + 1}, up to date" in admin_client.get(url).content.decode()


def test_the_flag_page_says_what_sdks_have_in_each_environment(admin_client, checkout, shop_production):
    document = rebuild(shop_production.pk)
    url = f"/admin/flags/flag/{checkout.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "SDKs have" in page and f"production: v{document.version}, up to date" in page

    toggle_flag(get_state(checkout, shop_production), SYSTEM, True, "launch")
    assert f"production: v{document.version}, 1 change waiting since" in admin_client.get(url).content.decode()
