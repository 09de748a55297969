"""Project-level views: the health check and the metrics (the web UI is webui, the REST API orchestrator.api)."""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from orchestrator import prometheus
from orchestrator.services import health


@never_cache
@require_GET
def healthz(request):
    """200 when the database and Redis answer (and, with ``?require=workers``, a worker serves every
    queue); 503 otherwise. No login: load balancers and container healthchecks call it, and get only
    ``{"status": …}`` from the shared, briefly cached report; token holders get that report in full, and only
    staff a fresh one (a check holds a web worker for the workers' 1 s broadcast)."""
    detailed, staff = _caller(request)
    out = health.report() if staff else health.shared_report(settings.SLAFLOW_HEALTH_CACHE_S)
    failing = out["status"] == "down" or (request.GET.get("require") == "workers" and not out["workers"]["ok"])
    return JsonResponse(out if detailed else {"status": out["status"]}, status=503 if failing else 200)


def _caller(request) -> tuple[bool, bool]:
    """(may see the details, is staff): staff signed in or by token; any valid API token sees the details."""
    if request.user.is_authenticated and request.user.is_staff:
        return True, True
    try:
        found = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return False, False
    return found is not None, found is not None and found[0].is_staff


@never_cache
@require_GET
def metrics(request):
    """The Prometheus text format (``orchestrator.prometheus``); 401 unless ``prometheus.allowed``."""
    if not prometheus.allowed(request):
        response = HttpResponse(
            "metrics need a staff login or 'Authorization: Bearer <SLAFLOW_METRICS_TOKEN>'\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="slaflow metrics"'
        return response
    return HttpResponse(prometheus.exposition(), content_type=prometheus.CONTENT_TYPE)
