"""Projects and environments are created and edited through projects.services."""

from controlplane.audit.models import AuditEntry
from controlplane.flags.models import FlagState
from controlplane.projects.models import Environment, Project


def test_creating_a_project_creates_its_environments(admin_client):
    response = admin_client.post(
        "/admin/projects/project/add/",
        {
            "key": "mobile",
            "name": "",
            "description": "",
            "environments": "dev, qa, prod",
            "reason": "new app",
        },
    )
    assert response.status_code == 302, response.content.decode()
    project = Project.objects.get(key="mobile")
    assert [e.key for e in project.environments.order_by("position")] == ["dev", "qa", "prod"]
    assert AuditEntry.objects.filter(action="project.create", reason="new app").exists()
    assert AuditEntry.objects.filter(action="environment.create").count() == 3


def test_a_duplicate_project_key_is_shown_on_the_form(admin_client, shop):
    response = admin_client.post("/admin/projects/project/add/", {"key": "shop", "environments": ""})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_adding_an_environment_starts_every_flag_off_in_it(admin_client, shop, checkout):
    response = admin_client.post(
        "/admin/projects/environment/add/", {"project": shop.pk, "key": "canary", "name": "", "position": ""}
    )
    assert response.status_code == 302, response.content.decode()
    canary = Environment.objects.get(key="canary")
    assert (canary.name, canary.position) == ("Canary", 3)
    assert FlagState.objects.get(flag=checkout, environment=canary).on is False


def test_editing_an_environment(admin_client, shop_production):
    response = admin_client.post(
        f"/admin/projects/environment/{shop_production.pk}/change/",
        {"name": "Prod", "position": "9", "reason": "rename"},
    )
    assert response.status_code == 302
    shop_production.refresh_from_db()
    assert (shop_production.key, shop_production.name, shop_production.position) == ("production", "Prod", 9)
    assert AuditEntry.objects.filter(action="environment.update", reason="rename").exists()


def test_every_admin_page_renders(admin_client, checkout_in_production, shop_production):
    for url in [
        "/admin/",
        "/admin/projects/project/",
        f"/admin/projects/project/{shop_production.project_id}/change/",
        "/admin/projects/project/add/",
        "/admin/projects/environment/",
        "/admin/projects/sdkkey/add/",
        "/admin/accounts/apitoken/add/",
        "/admin/flags/flag/add/",
        "/admin/flags/segment/",
        "/admin/flags/segment/add/",
        "/admin/documents/environmentdocument/",
        "/admin/audit/auditentry/",
        f"/admin/flags/flag/{checkout_in_production.flag_id}/change/",
        f"/admin/flags/flag/{checkout_in_production.flag_id}/toggle/production/",
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_environment_keys_must_be_slugs(admin_client, shop):
    response = admin_client.post("/admin/projects/environment/add/", {"project": shop.pk, "key": "pre prod"})
    assert response.status_code == 200
    assert not Environment.objects.filter(key="pre prod").exists()
    response = admin_client.post("/admin/projects/project/add/", {"key": "web", "environments": "dev, pre prod"})
    assert response.status_code == 200
    assert not Project.objects.filter(key="web").exists()
