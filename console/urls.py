from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path, re_path
from django.views.generic import RedirectView

from console import errors
from console.views import (
    apidocs,
    audit,
    clusters,
    kafka,
    lag,
    me,
    metrics,
    nats,
    nats_kv,
    nats_objects,
    nats_search,
    nats_services,
    publish,
    schemas,
    search,
    search_page,
    sso,
    tail,
    tokens,
    workers,
)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="clusters", permanent=False), name="home"),
    # No password reset: no mail is configured, so its pages stay unrouted (404).
    path("accounts/login/", sso.LoginView.as_view(), name="login"),
    path("accounts/logout/", sso.logout, name="logout"),
    *sso.urlpatterns,
    *tokens.urlpatterns,
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    *clusters.urlpatterns,
    *kafka.urlpatterns,
    *schemas.urlpatterns,
    *nats.urlpatterns,
    *nats_kv.urlpatterns,
    *nats_objects.urlpatterns,
    *nats_services.urlpatterns,
    *publish.urlpatterns,
    *search.urlpatterns,
    *nats_search.urlpatterns,
    *search_page.urlpatterns,
    *tail.urlpatterns,
    *lag.urlpatterns,
    *workers.urlpatterns,
    *audit.urlpatterns,
    *metrics.urlpatterns,
    *me.urlpatterns,
    *apidocs.urlpatterns,
    re_path(r"^api/(?P<rest>.*)$", errors.api_fallback),
]

handler404 = "console.errors.not_found"
handler500 = "console.errors.server_error"
