"""The audit log is read-only in the admin, filterable, and shows each change as before/after."""

from django.contrib import admin

from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.flags.services import update_flag_state

URL = "/admin/audit/auditentry/"


def test_nobody_can_add_change_or_delete_entries(rf, admin_user, checkout):
    model_admin = admin.site._registry[AuditEntry]
    request = rf.get(URL)
    request.user = admin_user
    entry = AuditEntry.objects.first()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    assert model_admin.get_actions(request) == {}


def test_add_and_delete_pages_are_refused(admin_client, checkout):
    entry = AuditEntry.objects.first()
    assert admin_client.get(URL + "add/").status_code == 403
    assert admin_client.post(f"{URL}{entry.pk}/delete/").status_code == 403
    detail = admin_client.get(f"{URL}{entry.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()


def test_the_list_filters_by_action_and_searches_objects(admin_client, checkout, layout):
    html = admin_client.get(URL, {"action": "flag.create", "q": "layout"}).content.decode()
    assert "checkout-layout" in html
    assert "new-checkout" not in html
    assert admin_client.get(URL, {"object_type": "flag", "at__year": "2000"}).status_code == 200


def test_an_entry_shows_what_changed(admin_client, checkout_in_production):
    update_flag_state(checkout_in_production, SYSTEM, {"bucket_by": "account_id"}, reason="per account")
    entry = AuditEntry.objects.get(action="flag_state.update")
    html = admin_client.get(f"{URL}{entry.pk}/change/").content.decode()
    row = '<th>bucket_by</th><td><pre class="fp-before">key</pre></td><td><pre class="fp-after">account_id</pre>'
    assert row in html
    assert "per account" in html


def test_a_changed_list_is_shown_as_a_line_diff(admin_client, checkout_in_production):
    state = update_flag_state(checkout_in_production, SYSTEM, {"targets": [{"variant": "on", "keys": ["a"]}]})
    update_flag_state(state, SYSTEM, {"targets": [{"variant": "on", "keys": ["a", "b"]}]})
    entry = AuditEntry.objects.filter(action="flag_state.update").first()  # newest first
    html = admin_client.get(f"{URL}{entry.pk}/change/").content.decode()
    assert "+      &quot;b&quot;" in html


def test_the_list_page_does_not_read_a_project_per_entry(
    admin_client, checkout_in_production, django_assert_max_num_queries
):
    for on in (True, False) * 6:
        update_flag_state(checkout_in_production, SYSTEM, {"on": on}, reason="query count")
    with django_assert_max_num_queries(15):
        assert admin_client.get(URL).status_code == 200
