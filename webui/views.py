"""Web UI views (thin: read through selectors, render templates)."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from orchestrator.models import WorkflowRun


@login_required
def runs(request):
    qs = WorkflowRun.objects.select_related("workflow")
    if not request.user.is_staff:
        qs = qs.filter(owner=request.user)
    return render(request, "webui/runs.html", {"runs": qs[:200]})
