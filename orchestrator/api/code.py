"""Pushed workflow code: push a module or wheel, list what you may use, share yours
(``orchestrator.core.coderefs``, ``orchestrator.services.code``, ``workers.codeloader``)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, parsers, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api.common import error_responses, list_schema, paginated
from orchestrator.api.throttles import SubmissionThrottle
from orchestrator.core.codechecks import CodeError
from orchestrator.services import code as service


class CanPushCode(permissions.BasePermission):
    """Reading is for every signed-in user; pushing only with ``orchestrator.push_code``."""

    message = (
        f"pushing code needs the {service.PERMISSION} permission (pushed code runs on the workers with "
        "their privileges); ask an administrator"
    )

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or service.can_push(request.user)


class VersionSerializer(serializers.Serializer):
    owner = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["module", "wheel"])
    filename = serializers.CharField(allow_blank=True)
    created = serializers.DateTimeField()
    reference = serializers.CharField(help_text="How a spec names a function of it: append the function's name.")


class CodeSerializer(serializers.Serializer):
    owner = serializers.CharField()
    name = serializers.CharField()
    created = serializers.DateTimeField()
    shared_with = serializers.ListField(child=serializers.CharField())
    shared_with_groups = serializers.ListField(child=serializers.CharField())
    versions = VersionSerializer(many=True)


class PushedSerializer(VersionSerializer):
    created_now = serializers.BooleanField(help_text="False when this content was already that name's version.")


def _bad(exc: CodeError):
    return exceptions.ValidationError({exc.field: [str(exc)]})


class CodeApi(APIView):
    """GET: the pushed code you may use (yours and shared with you). POST (multipart: ``file``, optional
    ``name``): push a module (.py) or a pure-Python wheel (.whl) as the next version of its name — needs the
    ``orchestrator.push_code`` permission."""

    permission_classes = [permissions.IsAuthenticated, CanPushCode]
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]
    throttle_classes = [SubmissionThrottle]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="The module (.py) or wheel (.whl).")
        name = serializers.CharField(
            required=False,
            max_length=200,
            help_text=("The importable name (default: the module's file name, or the wheel's only top-level package)."),
        )

    @list_schema("code_list", CodeSerializer, "PaginatedCodeList")
    def get(self, request):
        qs = service.visible(request.user).prefetch_related("shared_with", "shared_with_groups", "versions")
        return paginated(
            self,
            request,
            qs.order_by("owner__username", "name"),
            lambda page: CodeSerializer([service.describe(c) for c in page], many=True).data,
        )

    @extend_schema(
        operation_id="code_push",
        request={"multipart/form-data": InputSerializer},
        responses={
            201: PushedSerializer,
            200: OpenApiResponse(
                PushedSerializer, description="This content was already pushed under that name: its version."
            ),
            **{
                **error_responses(400, 401, 413, 415, 429),
                403: OpenApiResponse(description="No push_code permission."),
            },
        },
    )
    def post(self, request):
        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        if upload.size > _max_bytes():
            raise _bad(
                CodeError(
                    f"the file is {upload.size} bytes, more than the limit of {_max_bytes()} (SLAFLOW_CODE_MAX_BYTES)"
                )
            )
        try:
            version, created = service.push(request.user, upload.name, upload.read(), form.validated_data.get("name"))
        except CodeError as exc:
            raise _bad(exc) from None
        body = {**service.describe_version(version), "created_now": created}
        return Response(PushedSerializer(body).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CodeDetailApi(APIView):
    """One pushed code you may use, with all its versions (newest first)."""

    @extend_schema(operation_id="code_detail", responses={200: CodeSerializer, **error_responses(401, 404)})
    def get(self, request, owner: str, name: str):
        code = service.visible(request.user).filter(owner__username=owner, name=name).first()
        if code is None:
            raise Http404(f"no pushed code {owner}/{name} that you own or that is shared with you")
        return Response(CodeSerializer(service.describe(code)).data)


class CodeShareApi(APIView):
    """Share your code (``owner`` is you) with users or groups (their specs may then name it), or stop (``remove``)."""

    throttle_classes = [SubmissionThrottle]

    class InputSerializer(serializers.Serializer):
        users = serializers.ListField(
            child=serializers.CharField(max_length=150), required=False, default=list, max_length=1000
        )
        groups = serializers.ListField(
            child=serializers.CharField(max_length=150), required=False, default=list, max_length=1000
        )
        remove = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        operation_id="code_share",
        request=InputSerializer,
        responses={200: CodeSerializer, **error_responses(400, 401, 404, 415, 429)},
    )
    def post(self, request, owner: str, name: str):
        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        if owner != request.user.get_username():
            raise Http404(f"you have pushed no code {owner}/{name} (only its owner shares code)")
        try:
            code = service.share(
                request.user,
                name,
                users=form.validated_data["users"],
                groups=form.validated_data["groups"],
                remove=form.validated_data["remove"],
            )
        except service.CodeNotFound as exc:
            raise Http404(str(exc)) from None
        except CodeError as exc:
            raise _bad(exc) from None
        return Response(CodeSerializer(service.describe(code)).data)


def _max_bytes() -> int:
    from django.conf import settings

    return int(settings.SLAFLOW_CODE_MAX_BYTES)
