from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "streams"
    verbose_name = "Streams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Each broker package provides its adapter to the registry when imported.
        import streams.kafka.adapter
        import streams.nats.adapter  # noqa: F401
