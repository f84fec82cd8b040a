from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("controlplane.api.urls")),
    path("ofrep/v1/", include("controlplane.api.ofrep")),
    path("api-auth/", include("rest_framework.urls")),
]

handler400 = "controlplane.errorpages.bad_request"
handler403 = "controlplane.errorpages.permission_denied"
handler404 = "controlplane.errorpages.page_not_found"
handler500 = "controlplane.errorpages.server_error"
