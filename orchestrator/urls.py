from django.contrib import admin
from django.urls import include, path

from orchestrator import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/session/", include("rest_framework.urls")),  # browsable API log in/out (issue 4)
    path("api/", include("orchestrator.api.urls")),  # REST API, schema and Swagger UI (issue 4)
    path("", include("webui.urls")),
]
