"""Granting and revoking roles are audited writes; docs/access.md's table is the policy's."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from controlplane.access.errors import RoleError
from controlplane.access.models import RoleAssignment
from controlplane.access.policy import ACTIONS
from controlplane.access.services import grant_role, revoke_role
from controlplane.audit.models import AuditEntry
from controlplane.audit.services import Actor

pytestmark = pytest.mark.django_db


def test_granting_and_revoking_a_role_leaves_audit_entries(project, production, admin_user):
    bob = get_user_model().objects.create_user("bob", password="pw-1234567890")
    actor = Actor.for_user(admin_user)
    assignment = grant_role(project, bob, "editor", actor, environment=production, reason="on call this week")
    assert grant_role(project, bob, "editor", actor, environment=production) == assignment  # nothing new
    revoke_role(assignment, actor, reason="rotation over")
    grant, revoke = AuditEntry.objects.filter(action__startswith="role.").order_by("at", "id")
    assert (grant.action, grant.actor, grant.reason) == ("role.grant", "alice", "on call this week")
    assert grant.after == {"user": "bob", "role": "editor", "environment": "production"}
    assert (grant.project, grant.environment) == (project, production)
    assert (revoke.action, revoke.before["role"], revoke.reason) == ("role.revoke", "editor", "rotation over")
    assert not RoleAssignment.objects.exists()


def test_a_role_must_exist_and_an_environment_belong_to_the_project(project, admin_user):
    from controlplane.audit.services import SYSTEM
    from controlplane.projects.services import create_project

    bob = get_user_model().objects.create_user("bob", password="pw-1234567890")
    with pytest.raises(RoleError, match="role"):
        grant_role(project, bob, "owner", SYSTEM)
    elsewhere = create_project(SYSTEM, key="other", environments=["production"]).environments.get()
    with pytest.raises(RoleError, match="not an environment of 'shop'"):
        grant_role(project, bob, "viewer", SYSTEM, environment=elsewhere)


def test_the_role_admin_grants_through_the_service(admin_client, project):
    bob = get_user_model().objects.create_user("bob", password="pw-1234567890", is_staff=True)
    data = {"user": bob.pk, "project": project.pk, "environment": "", "role": "viewer", "reason": "new hire"}
    response = admin_client.post("/admin/access/roleassignment/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert RoleAssignment.objects.get().role == "viewer"
    assert AuditEntry.objects.get(action="role.grant").reason == "new hire"


def test_the_docs_list_every_action_with_its_roles():
    text = (Path(__file__).resolve().parents[2] / "docs/access.md").read_text()
    for action in ACTIONS.values():
        roles = ", ".join(sorted(action.roles)) or "superusers only"
        assert f"| `{action.name}` | {roles} | {'yes' if action.writes else 'no'} |" in text, action.name
