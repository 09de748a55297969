"""Django signals slaflow sends.

``sla_at_risk`` fires once per run, before its promise's deadline, when the live prediction says the run will
miss its promise; ``sla_missed`` once when it did (the deadline passed with the run unfinished, or it finished
late). Both are sent by the process that fired the alert (a worker's watcher, or the one finalizing the run)
with ``sender=WorkflowRun`` and the keyword arguments ``run_id``, ``alert`` (the payload the webhook gets:
run, workflow, planner, sla, promise_s, predicted_makespan_s, predicted_end, elapsed_s, kind, at). See
``orchestrator.services.alerts``; README "Promises and live tracking".
"""

from django.dispatch import Signal

sla_at_risk = Signal()
sla_missed = Signal()
