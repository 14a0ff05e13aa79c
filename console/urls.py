from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from console.views import audit, clusters, kafka, lag, nats, workers

urlpatterns = [
    path("", RedirectView.as_view(url="/clusters", permanent=False), name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    *clusters.urlpatterns,
    *kafka.urlpatterns,
    *nats.urlpatterns,
    *lag.urlpatterns,
    *workers.urlpatterns,
    *audit.urlpatterns,
]

handler404 = "console.errors.not_found"
handler500 = "console.errors.server_error"
