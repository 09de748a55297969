"""slaflow's orchestrator: the Django project, models, graph, planning and canvas."""
from orchestrator.celery import app as celery_app

__all__ = ["celery_app"]
