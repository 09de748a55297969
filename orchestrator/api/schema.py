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
RUN_OPERATIONS = ("runs_retrieve", "runs_plan", "runs_tasks", "runs_result", "runs_result_download", "runs_cancel")
# operation → (response status, {linked operation: {its parameter: where the value is in the response}})
LINKS = {
    "runs_create": ("201", {op: {"run_id": "$response.body#/id"} for op in RUN_OPERATIONS}),
    # A campaign's id from the list: without it a fuzzer only ever meets experiments_detail's 404.
    "experiments_list": ("200", {"experiments_detail": {"experiment_id": "$response.body#/results/0/id"}}),
}


def add_links(result, generator, request, public):
    """drf-spectacular post-processing hook: the LINKS above, on the responses they start from."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            link = LINKS.get(operation.get("operationId")) if isinstance(operation, dict) else None
            if link:
                code, targets = link
                operation["responses"][code]["links"] = {
                    op: {"operationId": op, "parameters": params} for op, params in targets.items()
                }
    return result
