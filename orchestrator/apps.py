from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator"
    verbose_name = "slaflow"

    def ready(self):
        from orchestrator import dbtuning  # noqa: F401  (SQLite pragmas on connect)
