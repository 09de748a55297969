"""slaflow's orchestrator: the Django project, models, graph, planning and canvas.

Importing the package loads nothing heavy, so ``orchestrator.client`` works in a
``slaflow[client]`` install without Django, Celery or numpy; the Celery app is
created when Django starts (``OrchestratorConfig.ready``) or by ``celery -A
orchestrator``, which finds ``orchestrator.celery.app``.
"""
