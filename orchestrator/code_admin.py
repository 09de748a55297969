"""The admin's pages for pushed code (registered by ``orchestrator.admin``): push a file, read versions, share.

Adding a *code version* is a push through ``service.push`` — the same checks as REST, the same permission
(``orchestrator.push_code``), in the admin's transaction; versions are never edited afterwards.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from orchestrator.core.codechecks import CodeError
from orchestrator.models import CodeVersion, WorkflowCode
from orchestrator.services import code as service


class PushCodeForm(forms.ModelForm):
    file = forms.FileField(help_text="A module (.py) or a pure-Python wheel (.whl).")
    name = forms.CharField(
        required=False,
        max_length=64,
        help_text=("The importable name (default: the module's file name, or the wheel's only top-level package)."),
    )

    class Meta:
        model = CodeVersion
        fields: list[str] = []

    user = None  # set by the admin for the request
    pushed: CodeVersion | None = None

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload is None:
            return data
        try:
            self.pushed, _ = service.push(self.user, upload.name, upload.read(), data.get("name") or None)
        except CodeError as exc:
            raise ValidationError({exc.field if exc.field in ("file", "name") else "file": str(exc)}) from None
        except service.CodePermissionError as exc:
            raise ValidationError(str(exc)) from None
        return data

    def save(self, commit=True):
        self.save_m2m = lambda: None
        return self.pushed


class CodeVersionInline(admin.TabularInline):
    model = CodeVersion
    extra = 0
    can_delete = False
    fields = readonly_fields = ("version", "sha256", "size", "kind", "filename", "created")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WorkflowCode)
class WorkflowCodeAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "latest_version", "created")
    search_fields = ("name", "owner__username")
    readonly_fields = ("owner", "name", "created")
    filter_horizontal = ("shared_with", "shared_with_groups")
    inlines = [CodeVersionInline]

    def has_add_permission(self, request):
        return False  # code is pushed: add a code version

    @admin.display(description="latest version")
    def latest_version(self, obj):
        latest = obj.versions.order_by("-version").first()
        return latest.version if latest else None


@admin.register(CodeVersion)
class CodeVersionAdmin(admin.ModelAdmin):
    list_display = ("code", "version", "kind", "size", "short_sha", "created")
    list_filter = ("kind",)
    search_fields = ("code__name", "code__owner__username", "sha256__sha256")
    readonly_fields = ("code", "version", "sha256", "size", "kind", "filename", "created")

    @admin.display(description="sha256")
    def short_sha(self, obj):
        return obj.sha256_id[:12]

    def has_add_permission(self, request):
        return service.can_push(request.user)

    def has_change_permission(self, request, obj=None):
        return False  # immutable; viewing needs the view permission

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            form = type("PushCodeFormFor", (PushCodeForm,), {"user": request.user})
            kwargs["form"] = form
            kwargs["fields"] = ["file", "name"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request, obj=None):
        return ["file", "name"] if obj is None else list(self.readonly_fields)

    def save_model(self, request, obj, form, change):
        pass  # stored by the push in the form's clean, inside the admin's transaction
