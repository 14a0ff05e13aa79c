from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Streamdesk console"

    def ready(self) -> None:
        from console import checks

        checks.refuse_to_start()
