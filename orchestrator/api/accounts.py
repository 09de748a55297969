"""Accounts: exchange a username and password for an API token."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.common import error_responses
from orchestrator.api.throttles import LOGIN_THROTTLES
from orchestrator.services.accounts import AccountError, token_for_credentials


class TokenObtainApi(APIView):
    """Your API token for a username and password (also: slaflow token USER)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = list(LOGIN_THROTTLES)  # per username and per address

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        token = serializers.CharField(help_text="Send as 'Authorization: Token <token>'.")

    @extend_schema(
        operation_id="auth_token",
        auth=[],
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 413, 415, 429)},
    )
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            issued = token_for_credentials(request=request._request, **body.validated_data)
        except AccountError as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from None
        return Response(self.OutputSerializer({"username": issued.username, "token": issued.key}).data)
