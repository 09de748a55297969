"""The Celery application. Configuration comes from Django settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")

app = Celery("slaflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Worker-side tasks and signal handlers live in the workers package.
app.conf.imports = ("workers.tasks", "workers.signals")
