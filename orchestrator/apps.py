from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator"
    verbose_name = "slaflow"

    def ready(self):
        # Every Django process (web, commands, workers) has the app before any shared task is sent.
        from orchestrator import celery  # noqa: F401
        from orchestrator.core import once
        from orchestrator.services import ledger

        once.install(_first_in_store)  # task code asks the core; the answer lives in the store
        ledger.install()  # what the runtime reports about runs, written by the services (workers.ledger)


def _first_in_store(name: str, ttl_s: float) -> bool:
    from store import once  # on first use: starting Django does not import Redis

    return once.first(name, ttl_s)
