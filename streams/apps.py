from importlib import import_module

from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "streams"
    verbose_name = "Streams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Each broker package provides its adapter to the registry when imported, and the local schema
        # files' reader is what the cluster definitions read their decoders with.
        for module in ("streams.kafka.adapter", "streams.nats.adapter", "streams.schemas.local"):
            import_module(module)
