"""Django admin for operators: every model, useful columns, metrics read-only."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from orchestrator.models import (
    Experiment,
    ExperimentRun,
    Plan,
    RunResult,
    TaskRun,
    WorkerStartup,
    Workflow,
    WorkflowRun,
)


class RecordAdmin(admin.ModelAdmin):
    """Records written by submissions and workers only: operators read (and cancel), never add (issue 4)."""

    def has_add_permission(self, request):
        return False


def _link(model: str, label: str, **query) -> str:
    url = reverse(f"admin:orchestrator_{model}_changelist") + "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return format_html('<a href="{}">{}</a>', url, label)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("name", "structure_hash", "task_count", "source", "run_count", "created_at")
    list_filter = ("source",)
    search_fields = ("name", "structure_hash")
    readonly_fields = ("structure_hash", "spec", "task_count", "created_at")

    @admin.display(description="runs")
    def run_count(self, obj):
        return _link("workflowrun", str(obj.runs.count()), workflow__id__exact=obj.pk)


class PlanInline(admin.StackedInline):
    model = Plan
    extra = 0
    can_delete = False
    readonly_fields = (
        "planner",
        "sla",
        "fallback",
        "predicted_makespan_s",
        "predicted_makespan_per_task_s",
        "predicted_gb_seconds",
        "planning_time_s",
        "created_at",
    )
    exclude = ("data",)


@admin.register(WorkflowRun)
class WorkflowRunAdmin(RecordAdmin):
    list_display = (
        "id",
        "workflow",
        "planner",
        "sla",
        "status",
        "owner",
        "submitted_at",
        "makespan_s",
        "predicted_makespan_s",
        "gb_seconds",
        "cold_starts",
        "warm_starts",
        "resources_enforced",
    )
    list_filter = ("status", "planner", "sla", "resources_enforced", "workflow__name")
    search_fields = ("id", "workflow__name", "error", "owner__username")
    date_hierarchy = "submitted_at"
    list_select_related = ("workflow", "owner")
    inlines = [PlanInline]
    readonly_fields = (
        "workflow",
        "status",
        "planner",
        "sla",
        "params",
        "plan_note",
        "submitted_at",
        "started_at",
        "finished_at",
        "makespan_s",
        "predicted_makespan_s",
        "predicted_gb_seconds",
        "gb_seconds",
        "cpu_seconds",
        "cold_starts",
        "warm_starts",
        "resources_enforced",
        "optimizations",
        "error",
        "error_traceback",
        "failed_node",
        "result_type",
        "result_bytes",
        "result_preview",
        "tasks_link",
        "startups_link",
        "plan_link",
    )
    exclude = ("spec",)
    actions = ["cancel_runs"]

    @admin.action(description="Cancel selected runs (cooperative: no further task starts)")
    def cancel_runs(self, request, queryset):
        from orchestrator.services.runs import cancel_run

        cancelled = [run_id for run_id in queryset.values_list("pk", flat=True) if cancel_run(run_id)]
        skipped = queryset.count() - len(cancelled)
        self.message_user(
            request,
            f"Cancelled {len(cancelled)} run(s)" + (f"; {skipped} had already finished" if skipped else ""),
            messages.SUCCESS,
        )

    @admin.display(description="tasks")
    def tasks_link(self, obj):
        return _link("taskrun", f"{obj.tasks.count()} task runs", run__id__exact=obj.pk)

    @admin.display(description="worker start-ups")
    def startups_link(self, obj):
        return _link("workerstartup", f"{obj.startups.count()} start-ups", run__id__exact=obj.pk)

    @admin.display(description="plan")
    def plan_link(self, obj):
        plan = Plan.objects.filter(run=obj).first()
        if plan is None:
            return "-"
        return format_html(
            '<a href="{}">plan {}</a>', reverse("admin:orchestrator_plan_change", args=[plan.pk]), plan.pk
        )


@admin.register(Plan)
class PlanAdmin(RecordAdmin):
    list_display = (
        "id",
        "run",
        "planner",
        "sla",
        "fallback",
        "predicted_makespan_s",
        "predicted_gb_seconds",
        "planning_time_s",
        "created_at",
    )
    list_filter = ("planner", "sla", "fallback")
    search_fields = ("run__id", "run__workflow__name")
    readonly_fields = [f.name for f in Plan._meta.fields]


@admin.register(TaskRun)
class TaskRunAdmin(RecordAdmin):
    list_display = (
        "node_id",
        "run",
        "function",
        "status",
        "memory_mb",
        "worker_id",
        "startup",
        "start_s",
        "exec_s",
        "planned_exec_s",
        "input_bytes",
        "output_bytes",
        "uploaded",
    )
    list_filter = ("status", "startup", "memory_mb", "uploaded", "planned_critical")
    search_fields = ("node_id", "function", "run__id", "error")
    list_select_related = ("run",)
    readonly_fields = [f.name for f in TaskRun._meta.fields]


@admin.register(WorkerStartup)
class WorkerStartupAdmin(RecordAdmin):
    list_display = (
        "id",
        "run",
        "worker_id",
        "memory_mb",
        "cold",
        "reason",
        "startup_s",
        "active_s",
        "tasks",
        "host",
        "pid",
        "enforced",
    )
    list_filter = ("cold", "reason", "memory_mb", "enforced", "prewarmed")
    search_fields = ("run__id", "worker_id", "branch_id", "host")
    readonly_fields = [f.name for f in WorkerStartup._meta.fields]


@admin.register(RunResult)
class RunResultAdmin(RecordAdmin):
    list_display = ("run", "size", "created_at")
    search_fields = ("run__id",)
    readonly_fields = ("run", "size", "created_at")
    exclude = ("data",)

    @admin.display(description="bytes")
    def size(self, obj):
        return len(obj.data or b"")


class ExperimentRunInline(admin.TabularInline):
    model = ExperimentRun
    extra = 0
    can_delete = False
    fields = ("position", "workflow", "planner", "sla", "iteration", "warmup", "status", "run", "attempts", "error")
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Experiment)
class ExperimentAdmin(RecordAdmin):
    """SLA experiment campaigns (run_sla_experiments): their arguments, machine facts and scheduled runs."""

    list_display = (
        "id",
        "name",
        "status",
        "done_runs",
        "total_runs",
        "seed",
        "owner",
        "created_at",
        "ended_at",
        "wall_s",
    )
    list_filter = ("status",)
    search_fields = ("id", "name", "out_dir")
    readonly_fields = (
        "name",
        "owner",
        "status",
        "arguments",
        "seed",
        "out_dir",
        "machine",
        "created_at",
        "started_at",
        "ended_at",
        "wall_s",
        "total_runs",
        "done_runs",
        "current",
        "pid",
        "error",
    )
    inlines = [ExperimentRunInline]


from orchestrator import code_admin as _pushed_admin  # noqa: E402,F401  (registers pushed code's pages)
