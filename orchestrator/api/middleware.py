"""Refuse oversize API bodies before anything reads them."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse

API_PREFIX = "/api/"


class BodySizeLimitMiddleware:
    """413 for /api/ requests whose Content-Length is over SLAFLOW_API_MAX_BODY_BYTES.

    WSGI servers pass a body only as long as its Content-Length, so the
    declared length is the whole body a view could read.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            raw = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw)
            except ValueError:
                length = -1
            if length < 0:
                return JsonResponse({"detail": f"Content-Length {raw!r} is not a byte count"}, status=400)
            limit = settings.SLAFLOW_API_MAX_BODY_BYTES
            if length > limit:
                return JsonResponse(
                    {
                        "detail": f"the request body is {length} bytes, over the limit of {limit} bytes "
                        "(SLAFLOW_API_MAX_BODY_BYTES)"
                    },
                    status=413,
                )
        return self.get_response(request)
