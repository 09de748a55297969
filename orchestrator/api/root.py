"""The API's front page: where everything is (the browsable API starts here)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class ApiRootApi(APIView):
    """Links to every collection, the OpenAPI schema and the Swagger UI."""

    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        workflows = serializers.URLField()
        runs = serializers.URLField()
        plan_preview = serializers.URLField()
        experiments = serializers.URLField()
        token = serializers.URLField()
        schema = serializers.URLField()
        docs = serializers.URLField()

    @extend_schema(operation_id="api_root", auth=[], responses={200: OutputSerializer})
    def get(self, request):
        names = {
            "workflows": "workflows",
            "runs": "runs",
            "plan_preview": "plan-preview",
            "experiments": "experiments",
            "token": "token",
            "schema": "schema",
            "docs": "docs",
        }
        return Response({key: request.build_absolute_uri(reverse(f"api:{name}")) for key, name in names.items()})
