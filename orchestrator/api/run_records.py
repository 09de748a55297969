"""What a run produced: its plan, its tasks (planned vs observed), its result."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.common import Pagination, error_responses, page_parameters
from orchestrator.api.fields import page_of, visible_run_or_404
from orchestrator.core.states import RunStatus, TaskStatus
from orchestrator.models import Plan
from orchestrator.services import selectors


class RunPlanApi(APIView):
    """The plan the run executes: per-task configuration, worker and predicted timings; the promise."""

    class OutputSerializer(serializers.Serializer):
        run = serializers.IntegerField(source="run_id")
        planner = serializers.CharField()
        sla = serializers.CharField()
        fallback = serializers.BooleanField(help_text="No history: flexible workers on a default configuration.")
        predicted_makespan_s = serializers.FloatField(allow_null=True)
        predicted_makespan_per_task_s = serializers.FloatField(allow_null=True)
        predicted_gb_seconds = serializers.FloatField(allow_null=True)
        planning_time_s = serializers.FloatField(allow_null=True)
        created_at = serializers.DateTimeField()
        data = serializers.DictField(help_text="The full plan: tasks, critical path, note, sample counts.")

    @extend_schema(operation_id="runs_plan", responses={200: OutputSerializer, **error_responses(401, 404)})
    def get(self, request, run_id: int):
        run = visible_run_or_404(request.user, run_id)
        plan = Plan.objects.filter(run=run).first()
        if plan is None:
            raise Http404(f"run {run.pk} has no plan (yet)")
        return Response(self.OutputSerializer(plan).data)


class RunTasksApi(APIView):
    """Every task of the run, planned next to observed."""

    class OutputSerializer(serializers.Serializer):
        class PlannedSerializer(serializers.Serializer):
            memory_mb = serializers.IntegerField(source="planned_memory_mb", allow_null=True)
            worker = serializers.CharField(source="planned_worker", allow_blank=True, help_text="Blank = flexible.")
            startup = serializers.CharField(source="planned_startup", allow_blank=True)
            startup_s = serializers.FloatField(source="planned_startup_s", allow_null=True)
            start_s = serializers.FloatField(source="planned_start_s", allow_null=True)
            end_s = serializers.FloatField(source="planned_end_s", allow_null=True)
            download_s = serializers.FloatField(source="planned_download_s", allow_null=True)
            exec_s = serializers.FloatField(source="planned_exec_s", allow_null=True)
            upload_s = serializers.FloatField(source="planned_upload_s", allow_null=True)
            input_bytes = serializers.IntegerField(source="planned_input_bytes", allow_null=True)
            output_bytes = serializers.IntegerField(source="planned_output_bytes", allow_null=True)
            critical = serializers.BooleanField(source="planned_critical")

        class ObservedSerializer(serializers.Serializer):
            memory_mb = serializers.IntegerField(allow_null=True)
            cpus = serializers.FloatField(allow_null=True)
            worker = serializers.CharField(source="worker_id", allow_blank=True)
            host = serializers.CharField(allow_blank=True)
            pid = serializers.IntegerField(allow_null=True)
            startup = serializers.CharField(allow_blank=True)
            started_at = serializers.DateTimeField(allow_null=True)
            finished_at = serializers.DateTimeField(allow_null=True)
            start_s = serializers.FloatField(allow_null=True)
            end_s = serializers.FloatField(allow_null=True)
            input_wait_s = serializers.FloatField(allow_null=True)
            download_s = serializers.FloatField(allow_null=True)
            exec_s = serializers.FloatField(allow_null=True)
            upload_s = serializers.FloatField(allow_null=True)
            input_bytes = serializers.IntegerField(allow_null=True)
            output_bytes = serializers.IntegerField(allow_null=True)
            uploaded = serializers.BooleanField(allow_null=True)
            inputs = serializers.ListField(child=serializers.DictField())
            optimizations = serializers.DictField()
            attempt_errors = serializers.ListField(
                child=serializers.DictField(), help_text="Failed attempts before the last: {attempt, error, at}."
            )
            enforced = serializers.BooleanField(allow_null=True)

        node_id = serializers.CharField()
        function = serializers.CharField()
        status = serializers.ChoiceField(choices=TaskStatus.choices)
        attempts = serializers.IntegerField()
        error = serializers.CharField(allow_blank=True)
        planned = PlannedSerializer(source="*")
        observed = ObservedSerializer(source="*")

    class TaskPagination(Pagination):
        page_size = 500

    @extend_schema(
        operation_id="runs_tasks",
        parameters=page_parameters(500),
        responses={200: page_of(OutputSerializer, "PaginatedTaskList"), **error_responses(400, 401, 404)},
    )
    def get(self, request, run_id: int):
        run = visible_run_or_404(request.user, run_id)
        paginator = self.TaskPagination()
        page = paginator.paginate_queryset(selectors.run_tasks(run), request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class RunResultApi(APIView):
    """The sink's output: the value itself when it is plain JSON, otherwise its type and size."""

    class OutputSerializer(serializers.Serializer):
        run = serializers.IntegerField()
        status = serializers.ChoiceField(choices=RunStatus.choices)
        json = serializers.BooleanField(help_text="True when `value` holds the result itself.")
        value = serializers.JSONField(allow_null=True, help_text="The result (null when not plain JSON).")
        type = serializers.CharField(help_text="Python type of the result, e.g. int, ndarray.")
        bytes = serializers.IntegerField(allow_null=True, help_text="Size of the stored (encoded) result.")

    class NotReadySerializer(serializers.Serializer):
        detail = serializers.CharField()
        status = serializers.ChoiceField(choices=RunStatus.choices)
        error = serializers.CharField(allow_blank=True)
        failed_node = serializers.CharField(allow_blank=True)

    @extend_schema(
        operation_id="runs_result",
        responses={
            200: OutputSerializer,
            409: OpenApiResponse(
                NotReadySerializer, description=("The run has not succeeded (yet): still running, failed or cancelled.")
            ),
            **error_responses(401, 404),
        },
    )
    def get(self, request, run_id: int):
        run = visible_run_or_404(request.user, run_id)
        refused = no_result(run)
        if refused is not None:
            return refused
        is_json = run.result_preview is not None or run.result_type == "NoneType"
        return Response(
            self.OutputSerializer(
                {
                    "run": run.pk,
                    "status": run.status,
                    "json": is_json,
                    "value": run.result_preview,
                    "type": run.result_type,
                    "bytes": run.result_bytes,
                }
            ).data
        )


def no_result(run, *, stored: bool = True) -> Response | None:
    """The 409 of a run without a result to give (still running, failed, cancelled); None when it has one.
    ``stored`` False: it succeeded, but its stored result is not there."""
    if run.status == RunStatus.SUCCEEDED and run.result_type and stored:
        return None
    detail = (
        f"run {run.pk} is {run.status}: no result yet"
        if not run.is_finished
        else f"run {run.pk} {run.status}: it has no result"
    )
    body = {"detail": detail, "status": run.status, "error": run.error, "failed_node": run.failed_node}
    return Response(RunResultApi.NotReadySerializer(body).data, status=status.HTTP_409_CONFLICT)
