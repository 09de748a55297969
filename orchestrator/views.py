"""Project-level views: the health check and the metrics (the web UI is webui, the REST API orchestrator.api)."""
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from orchestrator import health, prometheus


@never_cache
@require_GET
def healthz(request):
    """200 when the database and Redis answer (and, with ``?require=workers``, a worker serves every
    queue); 503 otherwise. No login: load balancers and container healthchecks call it."""
    out = health.report()
    failing = out["status"] == "down" or (request.GET.get("require") == "workers" and not out["workers"]["ok"])
    return JsonResponse(out, status=503 if failing else 200)


@never_cache
@require_GET
def metrics(request):
    """The Prometheus text format (``orchestrator.prometheus``); 401 unless ``prometheus.allowed``."""
    if not prometheus.allowed(request):
        response = HttpResponse("metrics need a staff login or 'Authorization: Bearer <SLAFLOW_METRICS_TOKEN>'\n",
                                status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="slaflow metrics"'
        return response
    return HttpResponse(prometheus.exposition(), content_type=prometheus.CONTENT_TYPE)
