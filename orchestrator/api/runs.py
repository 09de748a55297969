"""Runs: submit, list, read, cancel."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.common import error_responses, list_schema, paginated
from orchestrator.api.fields import (
    GRAPH_SPEC_SCHEMA,
    GraphSpecField,
    RunLinksSerializer,
    StrictBooleanField,
    check_workflow_or_dag,
    planner_field,
    run_links,
    sla_field,
    visible_run_or_404,
)
from orchestrator.api.throttles import SubmissionThrottle
from orchestrator.core.states import RunStatus
from orchestrator.services import alerts, runs as run_services, selectors


class RunDetailApi(APIView):
    """One run: status, timings, makespan against the promise, cost, optimizations, error."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        workflow = serializers.CharField(source="workflow.name")
        workflow_id = serializers.IntegerField()
        source = serializers.CharField(source="workflow.source")
        structure_hash = serializers.CharField(source="workflow.structure_hash")
        task_count = serializers.IntegerField(source="workflow.task_count")
        owner = serializers.CharField(source="owner.username", allow_null=True)
        status = serializers.ChoiceField(choices=RunStatus.choices)
        planner = serializers.CharField()
        sla = serializers.CharField()
        params = serializers.DictField()
        plan_note = serializers.CharField(allow_blank=True)
        submitted_at = serializers.DateTimeField()
        started_at = serializers.DateTimeField(allow_null=True)
        finished_at = serializers.DateTimeField(allow_null=True)
        makespan_s = serializers.FloatField(allow_null=True, help_text="Dispatch of the roots → sink completion.")
        predicted_makespan_s = serializers.FloatField(allow_null=True, help_text="The planner's promise at the SLA.")
        within_sla = serializers.BooleanField(allow_null=True)
        gb_seconds = serializers.FloatField(allow_null=True, help_text="Cost: Σ memory × active time per worker.")
        predicted_gb_seconds = serializers.FloatField(allow_null=True)
        cpu_seconds = serializers.FloatField(allow_null=True)
        cold_starts = serializers.IntegerField()
        warm_starts = serializers.IntegerField()
        resources_enforced = serializers.BooleanField(allow_null=True)
        optimizations = serializers.DictField(
            help_text=(
                "What the run's optimizations did: counts of events per name, and per optimization its effect "
                "(preload: tasks, inputs, waited_s; prewarm: sent, hits, hit_rate, gaps_s; taskdup: dups, won, "
                "predicted_saving_s, actual_saving_s)."
            )
        )
        error = serializers.CharField(allow_blank=True)
        failed_node = serializers.CharField(allow_blank=True)
        error_traceback = serializers.CharField(allow_blank=True)
        result_type = serializers.CharField(allow_blank=True)
        result_bytes = serializers.IntegerField(allow_null=True)
        webhook_url = serializers.CharField(allow_blank=True, help_text="Where this run's SLA alerts are POSTed.")
        live = serializers.SerializerMethodField(
            help_text=(
                "The run's completion re-predicted from what has finished (README 'Promises and live tracking'): "
                "predicted_makespan_s, predicted_end_s (epoch), will_miss, updated_at (epoch), final (the run ended), "
                "alerts fired so far; null before the first prediction or without a promise."
            )
        )
        alerts = serializers.ListField(
            child=serializers.DictField(),
            help_text=(
                "SLA alerts fired (sla_at_risk before the promise's deadline, sla_missed after): kind, at, elapsed_s, "
                "predicted_makespan_s, promise_s, webhook_url, delivery."
            ),
        )
        links = serializers.SerializerMethodField()

        @extend_schema_field(serializers.DictField(allow_null=True))
        def get_live(self, run) -> dict | None:
            return alerts.live_of(run)

        @extend_schema_field(RunLinksSerializer)
        def get_links(self, run) -> dict:
            return run_links(self.context.get("request"), run.pk)

    @extend_schema(operation_id="runs_retrieve", responses={200: OutputSerializer, **error_responses(401, 404)})
    def get(self, request, run_id: int):
        run = visible_run_or_404(request.user, run_id)
        return Response(self.OutputSerializer(run, context={"request": request}).data)


class RunListApi(APIView):
    """Runs you may see (staff: everyone's), newest first, filtered and paginated."""

    class FilterSerializer(serializers.Serializer):
        # Blank means "no filter" (?workflow= is the same as leaving it out).
        workflow = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text="Workflow name.")
        status = serializers.ChoiceField(choices=RunStatus.choices, required=False, allow_blank=True)
        planner = serializers.CharField(required=False, allow_blank=True, max_length=40)
        sla = serializers.CharField(required=False, allow_blank=True, max_length=10)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        workflow = serializers.CharField(source="workflow.name")
        owner = serializers.CharField(source="owner.username", allow_null=True)
        status = serializers.ChoiceField(choices=RunStatus.choices)
        planner = serializers.CharField()
        sla = serializers.CharField()
        submitted_at = serializers.DateTimeField()
        finished_at = serializers.DateTimeField(allow_null=True)
        makespan_s = serializers.FloatField(allow_null=True)
        predicted_makespan_s = serializers.FloatField(allow_null=True)
        gb_seconds = serializers.FloatField(allow_null=True)
        url = serializers.SerializerMethodField()

        def get_url(self, run) -> str:
            return run_links(self.context.get("request"), run.pk)["self"]

    @list_schema(
        "runs_list",
        OutputSerializer,
        "PaginatedRunList",
        parameters=[FilterSerializer],
        description="Runs you may see (staff: everyone's), newest first, filtered and paginated.",
    )
    def get(self, request):
        filters = RunListApi.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        runs = selectors.filter_runs(selectors.visible_runs(request.user), **filters.validated_data)
        return paginated(
            self,
            request,
            runs,
            lambda page: RunListApi.OutputSerializer(page, many=True, context={"request": request}).data,
        )


class RunCreateApi(APIView):
    """Submit a run: a library workflow with parameters, or a JSON graph spec. Returns 201 with the run."""

    throttle_classes = [SubmissionThrottle]

    class InputSerializer(serializers.Serializer):
        workflow = serializers.CharField(
            required=False, max_length=200, help_text="A library workflow name (see GET /api/workflows/)."
        )
        params = serializers.DictField(required=False, help_text='Library workflow parameters, e.g. {"n": 64}.')
        dag = GraphSpecField(required=False)
        name = serializers.CharField(required=False, max_length=200, help_text="Name of a submitted dag.")
        planner = planner_field(default="wukong")
        sla = sla_field(default="p90")
        timeout_s = serializers.FloatField(
            required=False,
            min_value=0.001,
            max_value=1e7,
            help_text="Time limit of each task that sets none itself (seconds).",
        )
        deadline_s = serializers.FloatField(
            required=False,
            min_value=0.001,
            max_value=1e7,
            help_text="The run fails if it has not ended this long after it started.",
        )
        webhook_url = serializers.CharField(
            required=False,
            max_length=500,
            help_text=(
                "An http(s) URL that gets a JSON POST when the run is predicted to miss its promise (before the "
                "deadline) and when it did miss; the workflow's webhook when not given."
            ),
        )
        rescue = StrictBooleanField(
            required=False,
            allow_null=True,
            default=None,
            help_text=(
                "Re-plan the tasks not started yet onto the largest configuration when the run is predicted to miss "
                "its promise (a 'replan' event among the run's alerts); the server's SLAFLOW_RESCUE when not given."
            ),
        )
        optimizations = serializers.ListField(
            child=serializers.CharField(max_length=40),
            required=False,
            max_length=10,
            help_text="Optimizations the planner applies by rule (preload, prewarm, taskdup), instead of the "
            "planner's own: all three for uniform-opt and non-uniform-opt, none for the others.",
        )

        def validate(self, data):
            return check_workflow_or_dag(data)

    @extend_schema(
        operation_id="runs_create",
        description="Submit a run: a library workflow with parameters, or a JSON graph spec whose functions live "
        "in the allowed workflow modules. Returns 201 with the run and links to follow it.",
        request=InputSerializer,
        responses={201: RunDetailApi.OutputSerializer, **error_responses(400, 401, 403, 413, 415, 429, 503)},
        examples=[
            OpenApiExample(
                "library workflow",
                request_only=True,
                value={"workflow": "tree_reduction", "params": {"n": 64}, "planner": "wukong", "sla": "p90"},
            ),
            OpenApiExample(
                "JSON graph spec",
                request_only=True,
                value={"dag": GRAPH_SPEC_SCHEMA["example"], "planner": "wukong", "sla": "average"},
            ),
        ],
    )
    def post(self, request):
        body = RunCreateApi.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        limits = {
            k: data[k]
            for k in ("timeout_s", "deadline_s", "optimizations", "webhook_url", "rescue")
            if data.get(k) is not None
        }
        common = dict(user=request.user, planner=data["planner"], sla=data["sla"], **limits)
        if "workflow" in data:
            run = run_services.submit_library(workflow=data["workflow"], params=data.get("params"), **common)
        else:
            run = run_services.submit_spec(spec=data["dag"], name=data.get("name"), **common)
        out = RunDetailApi.OutputSerializer(run, context={"request": request}).data
        return Response(out, status=status.HTTP_201_CREATED, headers={"Location": out["links"]["self"]})


class RunsApi(RunListApi, RunCreateApi):
    """GET lists runs, POST submits one (the two operations above share /api/runs/)."""


class RunCancelApi(APIView):
    """Cancel a run: no further task starts, and its running tasks are stopped within seconds."""

    @extend_schema(
        operation_id="runs_cancel",
        request=None,
        responses={200: RunDetailApi.OutputSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request, run_id: int):
        run = visible_run_or_404(request.user, run_id)
        if not run_services.cancel_run(run.pk):
            run.refresh_from_db(fields=["status"])
            return Response(
                {"detail": f"run {run.pk} is already {run.status}; only unfinished runs can be cancelled"},
                status=status.HTTP_409_CONFLICT,
            )
        run.refresh_from_db()
        return Response(RunDetailApi.OutputSerializer(run, context={"request": request}).data)
