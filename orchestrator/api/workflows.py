"""Workflows: the catalog, and plan previews (planners × SLAs without running anything)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator import planning
from orchestrator.api.common import error_responses, list_schema, paginated
from orchestrator.api.fields import GraphSpecField, check_workflow_or_dag, planner_field, sla_field
from orchestrator.api.throttles import SubmissionThrottle
from orchestrator.services import previews, selectors


class WorkflowListApi(APIView):
    """Library workflows (shape at their default parameters) and workflows you submitted."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(allow_null=True, help_text="Null for library entries.")
        name = serializers.CharField()
        source = serializers.CharField(help_text="library, api or python")
        description = serializers.CharField(allow_blank=True)
        structure_hash = serializers.CharField(allow_blank=True, help_text="Blank for an unavailable entry.")
        task_count = serializers.IntegerField(allow_null=True, help_text="Null for an unavailable entry.")
        run_count = serializers.IntegerField(help_text="Runs you can see.")
        parameters = serializers.DictField(help_text="Library parameters and their defaults.")
        available = serializers.BooleanField(
            help_text="False for a library workflow that cannot run here (it needs a program that is not allowed)."
        )
        unavailable_reason = serializers.CharField(allow_blank=True, help_text="Why it is unavailable.")

    @list_schema("workflows_list", OutputSerializer, "PaginatedWorkflowList")
    def get(self, request):
        rows = selectors.workflow_catalog(request.user)
        return paginated(self, request, rows, lambda page: self.OutputSerializer(page, many=True).data)


class WorkflowDurationsApi(APIView):
    """Duration percentiles of a workflow's recent succeeded runs, per planner × SLA."""

    class OutputSerializer(serializers.Serializer):
        planner = serializers.CharField()
        sla = serializers.CharField()
        runs = serializers.IntegerField(help_text="Succeeded runs counted (the latest 100 at most).")
        p50_s = serializers.FloatField()
        p90_s = serializers.FloatField()
        p95_s = serializers.FloatField()
        p99_s = serializers.FloatField()
        median_promise_s = serializers.FloatField(allow_null=True)
        promised_runs = serializers.IntegerField(help_text="Runs whose plan made a promise.")
        within_promise = serializers.IntegerField(help_text="Of those, runs that finished within it.")

    @extend_schema(
        operation_id="workflows_durations", responses={200: OutputSerializer(many=True), **error_responses(401, 404)}
    )
    def get(self, request, workflow_id: int):
        rows = selectors.duration_percentiles(request.user, workflow_id)
        if not rows and not selectors.visible_runs(request.user).filter(workflow_id=workflow_id).exists():
            raise NotFound(f"no workflow {workflow_id} with runs you can see")
        return Response(self.OutputSerializer(rows, many=True).data)


class PlanPreviewApi(APIView):
    """Plan a workflow with several planners and SLAs; returns each promise (makespan) and its cost."""

    throttle_classes = [SubmissionThrottle]

    class InputSerializer(serializers.Serializer):
        workflow = serializers.CharField(required=False, max_length=200)
        params = serializers.DictField(required=False)
        dag = GraphSpecField(required=False)
        name = serializers.CharField(required=False, max_length=200)
        planners = serializers.ListField(
            child=planner_field(),
            required=False,
            min_length=1,
            max_length=24,
            help_text="Default: every registered planner.",
        )
        slas = serializers.ListField(
            child=sla_field(), required=False, min_length=1, max_length=12, help_text='Default: ["p90"].'
        )

        def validate(self, data):
            return check_workflow_or_dag(data)

    class OutputSerializer(serializers.Serializer):
        class PlanSerializer(serializers.Serializer):
            planner = serializers.CharField()
            sla = serializers.CharField()
            predicted_makespan_s = serializers.FloatField(allow_null=True)
            predicted_makespan_per_task_s = serializers.FloatField(allow_null=True)
            predicted_gb_seconds = serializers.FloatField(allow_null=True, help_text="Predicted cost.")
            fallback = serializers.BooleanField()
            note = serializers.CharField(allow_blank=True)
            planning_time_s = serializers.FloatField(allow_null=True)
            memory_mb = serializers.ListField(child=serializers.IntegerField())
            logical_workers = serializers.IntegerField()
            flexible_tasks = serializers.IntegerField()
            critical_path = serializers.ListField(child=serializers.CharField())

        workflow = serializers.CharField()
        params = serializers.DictField()
        structure_hash = serializers.CharField()
        task_count = serializers.IntegerField()
        plans = PlanSerializer(many=True)

    @extend_schema(
        operation_id="plans_preview",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 413, 415, 429)},
        examples=[
            OpenApiExample(
                "library workflow",
                request_only=True,
                value={
                    "workflow": "tree_reduction",
                    "params": {"n": 64},
                    "planners": ["wukong"],
                    "slas": ["p50", "p90"],
                },
            )
        ],
    )
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        planners = data.get("planners") or planning.names()
        slas = data.get("slas") or ["p90"]
        if "workflow" in data:
            out = previews.preview_library(
                workflow=data["workflow"], params=data.get("params"), planners=planners, slas=slas, owner=request.user
            )
        else:
            out = previews.preview_spec(
                spec=data["dag"], name=data.get("name"), planners=planners, slas=slas, owner=request.user
            )
        return Response(self.OutputSerializer(out).data)
