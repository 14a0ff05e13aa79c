from django.apps import AppConfig


class OidcConfig(AppConfig):
    name = "streams.oidc"
    label = "oidc"
    verbose_name = "Single sign-on"
    default_auto_field = "django.db.models.BigAutoField"
