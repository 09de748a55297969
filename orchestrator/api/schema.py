"""OpenAPI generation tweaks (drf-spectacular)."""
from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as _SpectacularAutoSchema


class AutoSchema(_SpectacularAutoSchema):
    """Component names from the nesting: ``RunDetailApi.OutputSerializer`` → ``RunDetailOutput``."""

    def get_serializer_name(self, serializer, direction):
        qualname = type(serializer).__qualname__
        if "." in qualname:
            return qualname.replace("Serializer.", "").replace("Api.", "").replace(".", "")
        return super().get_serializer_name(serializer, direction)


# Operations that take the run id a submission returns (OpenAPI links: clients and fuzzers can follow them).
RUN_OPERATIONS = ("runs_retrieve", "runs_plan", "runs_tasks", "runs_result", "runs_cancel")


def add_run_links(result, generator, request, public):
    """drf-spectacular post-processing hook: link the 201 of runs_create to every run operation."""
    for path_item in result.get("paths", {}).values():
        create = path_item.get("post")
        if create and create.get("operationId") == "runs_create":
            response = create["responses"]["201"]
            response["links"] = {
                op: {"operationId": op, "parameters": {"run_id": "$response.body#/id"}} for op in RUN_OPERATIONS
            }
    return result
