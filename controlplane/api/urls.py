"""Every URL under /api/: the versioned REST API (/api/v1/), its OpenAPI schema and interactive docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter, SimpleRouter

from controlplane.api import audit, flags, metrics, projects, rollouts, webhooks

root = DefaultRouter()
root.register("projects", projects.ProjectViewSet, basename="project")
root.register("audit", audit.AuditEntryViewSet, basename="audit")
root.register("rollouts", rollouts.RolloutPlanViewSet, basename="rollout")

project = SimpleRouter()
project.register("environments", projects.EnvironmentViewSet, basename="environment")
project.register("flags", flags.FlagViewSet, basename="flag")
project.register("segments", flags.SegmentViewSet, basename="segment")
project.register("webhooks", webhooks.WebhookViewSet, basename="webhook")
project.register("webhook-deliveries", webhooks.WebhookDeliveryViewSet, basename="webhook-delivery")

environment = SimpleRouter()
environment.register("sdk-keys", projects.SdkKeyViewSet, basename="sdk-key")
environment.register("client-keys", projects.ClientKeyViewSet, basename="client-key")

state = "projects/<slug:project_key>/flags/<slug:flag_key>/environments/<slug:environment_key>/"

v1 = [
    path("metrics", metrics.MetricsIngestView.as_view(), name="sdk-metrics"),
    path(state, flags.FlagStateView.as_view(), name="flag-state"),
    path(state + "toggle", flags.FlagToggleView.as_view(), name="flag-toggle"),
    path("projects/<slug:project_key>/environments/<slug:environment_key>/", include(environment.urls)),
    path("projects/<slug:project_key>/", include(project.urls)),
    path("", include(root.urls)),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]
