from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from orchestrator.api.accounts import TokenObtainApi
from orchestrator.api.code import CodeApi, CodeDetailApi, CodeShareApi
from orchestrator.api.common import api_not_found
from orchestrator.api.experiments import ExperimentDetailApi, ExperimentsApi
from orchestrator.api.result_download import RunResultDownloadApi
from orchestrator.api.root import ApiRootApi
from orchestrator.api.run_records import RunPlanApi, RunResultApi, RunTasksApi
from orchestrator.api.runs import RunCancelApi, RunDetailApi, RunsApi
from orchestrator.api.workflows import PlanPreviewApi, WorkflowDurationsApi, WorkflowListApi

app_name = "api"
urlpatterns = [
    path("", ApiRootApi.as_view(), name="root"),
    path("auth/token/", TokenObtainApi.as_view(), name="token"),
    path("workflows/", WorkflowListApi.as_view(), name="workflows"),
    path("workflows/<int:workflow_id>/durations/", WorkflowDurationsApi.as_view(), name="workflow-durations"),
    path("runs/", RunsApi.as_view(), name="runs"),
    path("runs/<int:run_id>/", RunDetailApi.as_view(), name="run-detail"),
    path("runs/<int:run_id>/plan/", RunPlanApi.as_view(), name="run-plan"),
    path("runs/<int:run_id>/tasks/", RunTasksApi.as_view(), name="run-tasks"),
    path("runs/<int:run_id>/result/", RunResultApi.as_view(), name="run-result"),
    path("runs/<int:run_id>/result/download/", RunResultDownloadApi.as_view(), name="run-result-download"),
    path("runs/<int:run_id>/cancel/", RunCancelApi.as_view(), name="run-cancel"),
    path("plans/preview/", PlanPreviewApi.as_view(), name="plan-preview"),
    path("experiments/", ExperimentsApi.as_view(), name="experiments"),
    path("experiments/<int:experiment_id>/", ExperimentDetailApi.as_view(), name="experiment-detail"),
    path("code/", CodeApi.as_view(), name="code"),
    path("code/<str:owner>/<str:name>/share/", CodeShareApi.as_view(), name="code-share"),
    path("code/<str:owner>/<str:name>/", CodeDetailApi.as_view(), name="code-detail"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"", api_not_found),  # last: JSON 404 for anything else under /api/
]
