from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator"
    verbose_name = "slaflow"

    def ready(self):
        # Every Django process (web, commands, workers) has the app before any shared task is sent.
        from orchestrator import celery  # noqa: F401
        from orchestrator.services import ledger

        ledger.install()  # what the runtime reports about runs, written by the services (workers.ledger)
