"""What every API class shares: parsing, errors, pagination, documented error shapes (throttles: ``throttles``)."""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from orchestrator.api.fields import page_of
from orchestrator.services.quotas import QuotaExceeded
from orchestrator.services.runs import SubmissionError
from store.redis_client import RedisUnavailable

log = logging.getLogger("slaflow.api")


def exception_handler(exc, context):
    """DRF's handler, plus: a quota → 429 with Retry-After; SubmissionError → 400 on its field; Redis
    down → 503."""
    if isinstance(exc, QuotaExceeded):
        return Response(
            {"detail": str(exc)},
            status=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    if isinstance(exc, SubmissionError):
        exc = exceptions.ValidationError({exc.field: [str(exc)]})
    elif isinstance(exc, RedisUnavailable):
        log.error("API request failed: %s", exc)
        return Response(
            {"detail": "the run store (Redis) is unavailable; try again shortly"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return drf_exception_handler(exc, context)


class Pagination(PageNumberPagination):
    """Page-number pagination that refuses a malformed ``page`` or ``page_size`` instead of ignoring it."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None or raw in self.last_page_strings:
            return super().get_page_number(request, paginator)
        if not (raw.isascii() and raw.isdigit()):  # DRF reads an empty "page=" as page 1; 0 or past the end: 404
            raise exceptions.ValidationError({self.page_query_param: [f"must be a whole number ≥ 1, got {raw!r}"]})
        return raw

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise exceptions.ValidationError({self.page_size_query_param: [f"must be a whole number ≥ 1, got {raw!r}"]})
        return min(size, self.max_page_size)


def page_parameters(default_size: int = Pagination.page_size) -> list:
    """The documented query parameters of a paginated list."""
    from drf_spectacular.utils import OpenApiParameter

    return [
        OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="Page number, from 1."),
        OpenApiParameter(
            "page_size",
            {"type": "integer", "minimum": 1},
            description=f"Items per page (default {default_size}, at most {Pagination.max_page_size}).",
        ),
    ]


def list_schema(operation_id: str, item, name: str, *, parameters: Iterable = (), **kw):
    """The schema of a paginated list (``paginated``): ``parameters`` then the page's, a page of ``item``
    named ``name``, the usual errors."""
    from drf_spectacular.utils import extend_schema

    return extend_schema(
        operation_id=operation_id,
        parameters=[*parameters, *page_parameters()],
        responses={200: page_of(item, name), **error_responses(400, 401, 404)},
        **kw,
    )


def paginated(view, request, rows, render: Callable[[list], Any]) -> Response:
    """The page of ``rows`` the request asks for (``?page=``, ``?page_size=``), its items as ``render`` gives them."""
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(render(page))


@csrf_exempt  # a stray POST under /api/ must get this JSON 404, not the CSRF failure page
def api_not_found(request, *args, **kwargs):
    """Any other /api/ path: a JSON 404 (Django's own 404 page is HTML)."""
    from django.http import JsonResponse

    return JsonResponse({"detail": f"no API endpoint at {request.path}"}, status=404)


# --- documented error bodies (for the OpenAPI schema) ------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


def error_responses(*codes: int) -> dict:
    """OpenAPI responses for the error codes an operation can return."""
    from drf_spectacular.utils import OpenApiResponse

    described = {
        400: OpenApiResponse(
            {"type": "object", "additionalProperties": {}},
            description="Invalid input: each wrong field mapped to its messages, e.g. "
            '{"dag": ["the graph has a cycle: a -> b -> a"]}.',
        ),
        401: OpenApiResponse(ErrorSerializer, description="No or invalid credentials."),
        403: OpenApiResponse(ErrorSerializer, description="A browser session without its CSRF token."),
        404: OpenApiResponse(ErrorSerializer, description="No such run (or another user's run)."),
        409: OpenApiResponse(ErrorSerializer, description="The run is not in a state that allows this."),
        413: OpenApiResponse(ErrorSerializer, description="The request body is over SLAFLOW_API_MAX_BODY_BYTES."),
        415: OpenApiResponse(ErrorSerializer, description="The body is not JSON."),
        429: OpenApiResponse(
            ErrorSerializer,
            description="Too many submissions or login attempts, or a quota of "
            "yours is reached (the message names it); see the "
            "Retry-After header.",
        ),
        503: OpenApiResponse(ErrorSerializer, description="Redis is unavailable."),
    }
    return {code: described[code] for code in codes}
