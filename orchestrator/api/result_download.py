"""A run's result in full, as a file: a numpy array as ``.npy``, bytes as they are, plain JSON as JSON.

The stored result (``RunResult``, encoded by ``orchestrator.core.codec``) already is one of those
forms (``codec.stored_form``): its bytes are streamed out as stored, nothing decoded and no pickle
either way — the server reads only what its own workers wrote, and a client needs no pickle to read
what it gets. A value none of the three forms holds as it is (a tuple, an array inside a list, a
non-finite float, …) is a 406 naming what and where.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.common import ErrorSerializer, error_responses
from orchestrator.api.fields import visible_run_or_404
from orchestrator.api.run_records import RunResultApi, no_result
from orchestrator.core import codec
from orchestrator.models import RunResult
from orchestrator.services import runs

# format → (Content-Type, file name extension)
FORMATS = {
    "npy": ("application/octet-stream", "npy"),
    "bytes": ("application/octet-stream", "bin"),
    "json": ("application/json", "json"),
}
CHUNK_BYTES = 1 << 20
FORMAT_HEADER = "X-Slaflow-Result-Format"


class ErrorsAsJSON(BaseContentNegotiation):
    """Error bodies are JSON whatever ``Accept`` asks (``application/octet-stream`` included, which no
    renderer offers), and ``?format=`` names the result's form, not a renderer."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _chunks(body: memoryview):
    for at in range(0, len(body), CHUNK_BYTES):
        yield body[at : at + CHUNK_BYTES]


class RunResultDownloadApi(APIView):
    """The sink's output in full, streamed as a file: `.npy` for a numpy array, raw bytes, or JSON."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = ErrorsAsJSON

    @extend_schema(
        operation_id="runs_result_download",
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["auto", *FORMATS],
                default="auto",
                description="`auto`: the form the result has — `npy` for a numpy array (read it with "
                "`numpy.load(f, allow_pickle=False)`), `bytes` for bytes, `json` for plain JSON. Naming "
                "another form than the result's is a 406.",
            ),
            OpenApiParameter(
                FORMAT_HEADER,
                str,
                OpenApiParameter.HEADER,
                response=[200],
                enum=list(FORMATS),
                description="The form sent: npy, bytes or json.",
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The result as a file: a numpy array as .npy, bytes as they are, plain JSON as JSON "
                "(the header X-Slaflow-Result-Format and the Content-Disposition file name say which).",
            ),
            (200, "application/json"): OpenApiResponse(OpenApiTypes.ANY, description="The result, plain JSON."),
            406: OpenApiResponse(
                ErrorSerializer,
                description="The result has no such form: not the format asked for, or a value none of the "
                "forms holds as it is (a tuple, an array inside a list, a non-finite float…), named with where.",
            ),
            409: OpenApiResponse(
                RunResultApi.NotReadySerializer,
                description="The run has not succeeded (yet): still running, failed or cancelled.",
            ),
            **error_responses(400, 401, 404),
        },
    )
    def get(self, request, run_id: int):
        wanted = request.query_params.get("format", "auto")
        if wanted != "auto" and wanted not in FORMATS:
            raise exceptions.ValidationError({"format": [f"must be auto, {', '.join(FORMATS)}; got {wanted!r}"]})
        run = visible_run_or_404(request.user, run_id)
        refused = no_result(run)
        if refused is not None:
            return refused
        try:
            stored = runs.result_data(run.pk)
        except RunResult.DoesNotExist:
            return no_result(run, stored=False)
        form, body = codec.stored_form(stored)
        problem = codec.not_plain_json(body) if form == "json" else None
        if problem is not None:
            return self._refuse(
                f"run {run.pk}'s result ({run.result_type}) has no .npy, bytes or plain JSON form: it holds "
                f"{problem}. Return a numpy array, bytes or plain JSON from the sink to download it here"
            )
        if wanted not in ("auto", form):
            return self._refuse(
                f"run {run.pk}'s result is {run.result_type}: it downloads as format={form}, not {wanted}"
            )
        content_type, extension = FORMATS[form]
        response = StreamingHttpResponse(_chunks(body), content_type=content_type)
        response["Content-Length"] = str(len(body))
        response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-result.{extension}"'
        response[FORMAT_HEADER] = form
        return response

    @staticmethod
    def _refuse(detail: str) -> Response:
        return Response({"detail": detail}, status=status.HTTP_406_NOT_ACCEPTABLE)
