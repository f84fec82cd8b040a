from django.urls import include, path
from rest_framework.routers import DefaultRouter, SimpleRouter

from controlplane.api import rollout_views, sdk_views, views
from controlplane.metrics.views import MetricsIngestView
from controlplane.notifications.api import WebhookDeliveryViewSet, WebhookViewSet

root = DefaultRouter()
root.register("projects", views.ProjectViewSet, basename="project")
root.register("audit", views.AuditEntryViewSet, basename="audit")
root.register("rollouts", rollout_views.RolloutPlanViewSet, basename="rollout")

project = SimpleRouter()
project.register("environments", views.EnvironmentViewSet, basename="environment")
project.register("flags", views.FlagViewSet, basename="flag")
project.register("segments", views.SegmentViewSet, basename="segment")
project.register("webhooks", WebhookViewSet, basename="webhook")
project.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")

environment = SimpleRouter()
environment.register("sdk-keys", views.SdkKeyViewSet, basename="sdk-key")

state = "projects/<slug:project_key>/flags/<slug:flag_key>/environments/<slug:environment_key>/"

urlpatterns = [
    path("sdk/config", sdk_views.SdkConfigView.as_view(), name="sdk-config"),
    path("metrics", MetricsIngestView.as_view(), name="sdk-metrics"),
    path(state, views.FlagStateView.as_view(), name="flag-state"),
    path(state + "toggle", views.FlagToggleView.as_view(), name="flag-toggle"),
    path("projects/<slug:project_key>/environments/<slug:environment_key>/", include(environment.urls)),
    path("projects/<slug:project_key>/", include(project.urls)),
    path("", include(root.urls)),
]
