"""Project-level views: the health check (the web UI is webui, the REST API orchestrator.api)."""
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from orchestrator import health


@never_cache
@require_GET
def healthz(request):
    """200 when the database and Redis answer (and, with ``?require=workers``, a worker serves every
    queue); 503 otherwise. No login: load balancers and container healthchecks call it."""
    out = health.report()
    failing = out["status"] == "down" or (request.GET.get("require") == "workers" and not out["workers"]["ok"])
    return JsonResponse(out, status=503 if failing else 200)
