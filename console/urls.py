from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from console import errors
from console.views import audit, clusters, kafka, lag, metrics, nats, publish, tail, workers

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="clusters", permanent=False), name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    *clusters.urlpatterns,
    *kafka.urlpatterns,
    *nats.urlpatterns,
    *publish.urlpatterns,
    *tail.urlpatterns,
    *lag.urlpatterns,
    *workers.urlpatterns,
    *audit.urlpatterns,
    *metrics.urlpatterns,
    re_path(r"^api/(?P<rest>.*)$", errors.api_fallback),
]

handler404 = "console.errors.not_found"
handler500 = "console.errors.server_error"
