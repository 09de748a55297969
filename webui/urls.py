from django.urls import path

from webui import views

app_name = "webui"
urlpatterns = [
    path("", views.runs, name="runs"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/body/", views.run_body, name="run-body"),
    path("runs/<int:run_id>/live.json", views.run_live, name="run-live"),
    path("workflows/", views.workflows, name="workflows"),
    path("workflows/<int:workflow_id>/", views.workflow_analysis, name="workflow"),
    path("workflows/<int:workflow_id>/preview/", views.preview, name="preview"),
    path("launch/", views.launch, name="launch"),
    path("experiments/", views.experiments, name="experiments"),
    path("experiments/<int:experiment_id>/", views.experiment, name="experiment"),
    path("experiments/<int:experiment_id>/results.csv", views.experiment_csv, name="experiment-csv"),
]
