"""Who has which role in which project (optionally in one environment of it)."""

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    APPROVER = "approver", "Approver"
    ADMIN = "admin", "Admin"


class RoleAssignment(models.Model):
    """``user`` has ``role`` in ``project``; in ``environment`` only, when one is named."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="role_assignments")
    environment = models.ForeignKey(
        "projects.Environment",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_assignments",
        help_text="Empty: the role holds in the whole project. Otherwise only in this environment.",
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__key", "user__username", "environment__position"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "project", "environment", "role"], name="one_assignment_per_role", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        where = f"{self.project.key}/{self.environment.key}" if self.environment_id else self.project.key
        return f"{self.user.get_username()}: {self.role} in {where}"
