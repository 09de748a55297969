"""Serializer fields and helpers shared by the API classes."""

from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestrator import planning
from orchestrator.core.graph import NODE_ID_RE
from orchestrator.models import WorkflowRun
from orchestrator.services import selectors

SLA_PATTERN = r"^(average|p([1-9]|[1-9][0-9]))$"
SLA_HELP = "'average' (mean completion time) or a percentile 'p1'..'p99', e.g. 'p90'."
MAX_DB_ID = 2**63 - 1

GRAPH_SPEC_SCHEMA = {
    "type": "object",
    "description": "A JSON graph spec: nodes name importable task functions (from the allowed workflow modules); "
    'an argument {"ref": "<node id>"} is the output of that node. Exactly one sink.',
    "required": ["nodes"],
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "nodes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "function"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": NODE_ID_RE.pattern},
                    "function": {
                        "type": "string",
                        "minLength": 1,
                        "description": (
                            "Dotted path, e.g. slaflow.workflows.tree_reduction.add, or a "
                            "function of pushed code: code:<name>@<version>:<function>"
                        ),
                    },
                    "args": {"type": "array", "items": {}},
                    "kwargs": {"type": "object", "additionalProperties": {}},
                    "options": {"type": "object", "additionalProperties": {}},
                },
            },
        },
    },
    "example": {
        "name": "three-sums",
        "nodes": [
            {"id": "a", "function": "slaflow.workflows.tree_reduction.add", "args": [1, 2]},
            {"id": "b", "function": "slaflow.workflows.tree_reduction.add", "args": [3, 4]},
            {"id": "c", "function": "slaflow.workflows.tree_reduction.add", "args": [{"ref": "a"}, {"ref": "b"}]},
        ],
    },
}


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean only: DRF's BooleanField also takes 0, 1, "yes", "on"… which the schema says it does not."""

    default_error_messages = {"invalid": "must be true or false (a JSON boolean), got {input!r}."}

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("invalid", input=data)


@extend_schema_field(GRAPH_SPEC_SCHEMA)
class GraphSpecField(serializers.JSONField):
    """Kept as parsed here: ``orchestrator.core.spec.from_spec`` is the one parser, and the submission
    validator (``services.submissions``) refuses what JSON cannot carry with the error every way in gives."""

    def to_internal_value(self, data):
        return data


# The planner registry, read once at import (planners are code, registered in orchestrator.planning).
PLANNER_CHOICES = [(name, name) for name in planning.names()]


def check_workflow_or_dag(data: dict) -> dict:
    """A submission or preview names a library workflow (with params) or carries a dag (with a name)."""
    if ("workflow" in data) == ("dag" in data):
        raise serializers.ValidationError(
            "give either 'workflow' (a library workflow name) or 'dag' (a JSON graph spec)"
        )
    if "dag" in data and "params" in data:
        raise serializers.ValidationError({"params": ["params apply to library workflows, not to a dag"]})
    if "workflow" in data and "name" in data:
        raise serializers.ValidationError(
            {"name": ["name applies to a dag; a library run is named after its workflow"]}
        )
    return data


def planner_field(**kwargs) -> serializers.ChoiceField:
    names = [name for name, _ in PLANNER_CHOICES]
    return serializers.ChoiceField(
        choices=PLANNER_CHOICES,
        error_messages={"invalid_choice": 'unknown planner "{input}" (choose from ' + ", ".join(names) + ")"},
        **kwargs,
    )


def sla_field(**kwargs) -> serializers.RegexField:
    return serializers.RegexField(
        SLA_PATTERN,
        max_length=7,
        help_text=SLA_HELP,
        error_messages={"invalid": "SLA must be 'average' or a percentile 'p1'..'p99'"},
        **kwargs,
    )


def visible_run_or_404(user, run_id: int) -> WorkflowRun:
    """The run if ``user`` may see it; 404 alike for missing runs and other users' runs."""
    if run_id > MAX_DB_ID:
        raise Http404(f"no run {run_id}")
    try:
        return selectors.visible_run(user, run_id)
    except WorkflowRun.DoesNotExist:
        raise Http404(f"no run {run_id}") from None


def run_links(request, run_id: int) -> dict[str, str]:
    def url(name: str) -> str:
        path = reverse(f"api:{name}", kwargs={"run_id": run_id})
        return request.build_absolute_uri(path) if request is not None else path

    return {
        "self": url("run-detail"),
        "plan": url("run-plan"),
        "tasks": url("run-tasks"),
        "result": url("run-result"),
        "download": url("run-result-download"),
        "cancel": url("run-cancel"),
    }


class RunLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    plan = serializers.URLField()
    tasks = serializers.URLField()
    result = serializers.URLField()
    download = serializers.URLField(help_text="The result in full as a file (.npy, bytes or JSON).")
    cancel = serializers.URLField()


def page_of(item_serializer: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The documented shape of a page of ``item_serializer`` (count/next/previous/results)."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item_serializer(many=True),
        },
    )
