"""SLA experiment campaigns over the API: list them, and one with its per-cell summary."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.common import error_responses, list_schema, paginated
from orchestrator.api.fields import MAX_DB_ID
from orchestrator.models import Experiment
from orchestrator.services import selectors


class ExperimentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=Experiment.Status.choices)
    arguments = serializers.DictField(help_text="workflows, planners, slas, iterations, warmup, params, seed.")
    seed = serializers.IntegerField()
    machine = serializers.DictField(help_text="host, cores, memory_gb, limits_enforced.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    wall_s = serializers.FloatField()
    total_runs = serializers.IntegerField()
    done_runs = serializers.IntegerField()
    current = serializers.CharField(allow_blank=True, help_text="The cell being run now.")


class CellSerializer(serializers.Serializer):
    workflow = serializers.CharField()
    planner = serializers.CharField()
    sla = serializers.CharField()
    runs = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Runs that failed for infrastructure reasons twice.")
    task_failures = serializers.IntegerField(help_text="Runs that ended with a task's error (a result).")
    judged = serializers.IntegerField(help_text="Runs with a promise.")
    within = serializers.IntegerField(help_text="Runs within the promise made for them.")
    rate = serializers.FloatField(allow_null=True, help_text="within / judged.")
    prior_rate = serializers.FloatField(
        allow_null=True, help_text="The prior system's measure (see docs/howto/campaign.md)."
    )
    median_makespan_s = serializers.FloatField(allow_null=True)
    median_promise_s = serializers.FloatField(allow_null=True)
    median_gb_seconds = serializers.FloatField(allow_null=True)
    median_error_makespan = serializers.FloatField(allow_null=True)


def visible_experiment_or_404(user, experiment_id: int) -> Experiment:
    try:
        if experiment_id > MAX_DB_ID:
            raise Experiment.DoesNotExist
        return selectors.visible_experiments(user).get(pk=experiment_id)
    except Experiment.DoesNotExist:
        raise Http404(f"no experiment {experiment_id}") from None


class ExperimentsApi(APIView):
    """Campaigns you may see, newest first (staff see every campaign)."""

    @list_schema("experiments_list", ExperimentSerializer, "PaginatedExperimentList")
    def get(self, request):
        rows = selectors.visible_experiments(request.user)
        return paginated(self, request, rows, lambda page: ExperimentSerializer(page, many=True).data)


class ExperimentDetailApi(APIView):
    """One campaign, with its summary per workflow × planner × SLA (measured runs only)."""

    class OutputSerializer(ExperimentSerializer):
        cells = CellSerializer(many=True)
        facts = serializers.DictField(
            help_text="wall_s, planning_s, planning_share, runs, done, failed, "
            "median_gb_seconds, nonuniform_over_uniform_gb."
        )

    @extend_schema(operation_id="experiments_detail", responses={200: OutputSerializer, **error_responses(401, 404)})
    def get(self, request, experiment_id: int):
        from experiments.campaigns import results

        exp = visible_experiment_or_404(request.user, experiment_id)
        rows = results.rows(exp)
        data = ExperimentSerializer(exp).data
        data.update(cells=CellSerializer(results.cells(rows), many=True).data, facts=results.campaign_facts(exp, rows))
        return Response(data)
