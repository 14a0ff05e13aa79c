from django.apps import AppConfig


class DevConfig(AppConfig):
    """``make run``'s stack and the demo: management commands only, no models."""

    name = "dev"
    verbose_name = "Development stack and demo"
