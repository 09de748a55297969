"""What slaflow remembers: workflows, runs, plans, per-task metrics, start-ups.

Planned and observed values sit side by side on TaskRun so that a run's plan
can be compared with reality and the predictor can learn from history.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

from orchestrator.core import startup as startup_kinds
from orchestrator.core.states import RunStatus, TaskStatus

# Webhooks of SLA alerts are http(s) only (``services.webhooks.check_url`` at submission; this in the admin).
WEBHOOK_URL = URLValidator(schemes=["http", "https"])


class Workflow(models.Model):
    """A workflow shape: runs with the same structure hash share prediction history."""

    class Source(models.TextChoices):
        LIBRARY = "library"
        PYTHON = "python"
        API = "api"

    name = models.CharField(max_length=200, help_text="Human name, e.g. a library workflow name.")
    structure_hash = models.CharField(max_length=40, db_index=True, help_text="Hash of function names and edges.")
    spec = models.JSONField(help_text="JSON graph spec of the most recent submission.")
    task_count = models.PositiveIntegerField()
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.PYTHON)
    created_at = models.DateTimeField(default=timezone.now)
    webhook_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[WEBHOOK_URL],
        help_text=("Where SLA alerts of this workflow's runs are POSTed when a run sets none (http or https)."),
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "structure_hash"], name="workflow_name_hash_unique")]
        ordering = ["name", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.structure_hash[:8]})"


class WorkflowRun(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="slaflow_runs"
    )
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True)
    planner = models.CharField(max_length=40)
    task_timeout_s = models.FloatField(
        null=True, blank=True, help_text="Time limit of each task that sets none itself."
    )
    deadline_s = models.FloatField(
        null=True, blank=True, help_text="The run fails if it has not ended this long after it started."
    )
    sla = models.CharField(max_length=10, help_text="'average' or 'pN' (1-99).")
    params = models.JSONField(default=dict, blank=True, help_text="Library workflow parameters, if any.")
    spec = models.JSONField(help_text="The exact graph spec this run executed.")
    inputs_hash = models.CharField(
        max_length=20,
        blank=True,
        db_index=True,
        help_text="Hash of the spec's content (constants included): runs with the same inputs plan from each other.",
    )
    plan_note = models.TextField(blank=True, help_text="How the plan was made, e.g. a no-history fallback.")

    submitted_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="Root branches dispatched.")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="Sink finished or run failed/cancelled.")
    makespan_s = models.FloatField(null=True, blank=True, help_text="Dispatch of roots → sink completion.")
    predicted_makespan_s = models.FloatField(null=True, blank=True, help_text="Planner's promise at the SLA.")
    predicted_gb_seconds = models.FloatField(null=True, blank=True)
    gb_seconds = models.FloatField(null=True, blank=True, help_text="Σ memory × active time per logical worker.")
    cpu_seconds = models.FloatField(null=True, blank=True)
    cold_starts = models.PositiveIntegerField(default=0)
    warm_starts = models.PositiveIntegerField(default=0)
    resources_enforced = models.BooleanField(
        null=True, blank=True, help_text="False when a worker could not apply its CPU quota / memory limit."
    )
    optimizations = models.JSONField(default=dict, blank=True, help_text="Counts of optimization events.")
    webhook_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[WEBHOOK_URL],
        help_text=("Where this run's SLA alerts are POSTed (http or https); the workflow's when blank."),
    )
    alerts = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "SLA alerts fired while the run executed: "
            "[{kind, at, elapsed_s, predicted_makespan_s, promise_s, delivery}]."
        ),
    )
    timings = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where the time outside the tasks went: validate_s, store_s, plan_s, dispatch_s (submission), "
        "finalize_s, and the branches' own costs summed (branches, branch_lease_s, branch_context_s, "
        "branch_record_s).",
    )

    error = models.TextField(blank=True)
    error_traceback = models.TextField(blank=True)
    failed_node = models.CharField(max_length=200, blank=True)

    result_type = models.CharField(max_length=100, blank=True)
    result_bytes = models.BigIntegerField(null=True, blank=True)
    result_preview = models.JSONField(null=True, blank=True, help_text="The result when it is small plain JSON.")

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [models.Index(fields=["workflow", "planner", "sla"])]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.workflow.name} [{self.status}]"

    @property
    def is_finished(self) -> bool:
        return self.status in RunStatus.finished()

    @property
    def within_sla(self) -> bool | None:
        if self.makespan_s is None or self.predicted_makespan_s is None:
            return None
        return self.makespan_s <= self.predicted_makespan_s


class RunResult(models.Model):
    """The sink's output, encoded with orchestrator.core.codec (never pickle)."""

    run = models.OneToOneField(WorkflowRun, on_delete=models.CASCADE, related_name="result_blob")
    data = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)


class Plan(models.Model):
    run = models.OneToOneField(WorkflowRun, on_delete=models.CASCADE, related_name="plan")
    planner = models.CharField(max_length=40)
    sla = models.CharField(max_length=10)
    data = models.JSONField(help_text="The full plan as plain JSON (orchestrator.planning.plan.Plan).")
    fallback = models.BooleanField(default=False, help_text="No history: flexible workers on a default config.")
    predicted_makespan_s = models.FloatField(null=True, blank=True)
    predicted_makespan_per_task_s = models.FloatField(
        null=True, blank=True, help_text="The per-task-percentile estimate, kept for calibration studies."
    )
    predicted_median_s = models.FloatField(
        null=True,
        blank=True,
        help_text="Typical makespan (median task times); runs' residuals against it calibrate promises.",
    )
    monte_carlo_s = models.FloatField(null=True, blank=True, help_text="Monte Carlo at the SLA, before calibration.")
    predicted_gb_seconds = models.FloatField(null=True, blank=True)
    planning_time_s = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"plan of run {self.run_id} ({self.planner}, {self.sla})"


class TaskRun(models.Model):
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="tasks")
    node_id = models.CharField(max_length=200)
    function = models.CharField(max_length=300, db_index=True)
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)

    # Planned (copied from the plan when the run starts).
    planned_memory_mb = models.PositiveIntegerField(null=True, blank=True)
    planned_worker = models.CharField(max_length=100, blank=True, help_text="Logical worker id; blank = flexible.")
    planned_startup = models.CharField(
        max_length=10, blank=True, help_text=" / ".join((*startup_kinds.KINDS, startup_kinds.NONE))
    )
    planned_startup_s = models.FloatField(null=True, blank=True)
    planned_start_s = models.FloatField(null=True, blank=True)
    planned_end_s = models.FloatField(null=True, blank=True)
    planned_download_s = models.FloatField(null=True, blank=True)
    planned_exec_s = models.FloatField(null=True, blank=True)
    planned_upload_s = models.FloatField(null=True, blank=True)
    planned_input_bytes = models.BigIntegerField(null=True, blank=True)
    planned_output_bytes = models.BigIntegerField(null=True, blank=True)
    planned_critical = models.BooleanField(default=False, help_text="On the planned critical path.")

    # Observed.
    memory_mb = models.PositiveIntegerField(null=True, blank=True)
    cpus = models.FloatField(null=True, blank=True)
    worker_id = models.CharField(max_length=100, blank=True, help_text="Logical worker that ran it.")
    branch_id = models.CharField(max_length=200, blank=True, help_text="Celery task id of the branch message.")
    host = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    startup = models.CharField(
        max_length=10,
        blank=True,
        help_text=(f"{startup_kinds.COLD} / {startup_kinds.WARM} / {startup_kinds.NONE} (continued in a branch)"),
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    start_s = models.FloatField(null=True, blank=True, help_text="Seconds after the run started.")
    end_s = models.FloatField(null=True, blank=True)
    input_wait_s = models.FloatField(null=True, blank=True, help_text="Waiting for and downloading inputs.")
    download_s = models.FloatField(null=True, blank=True)
    input_bytes = models.BigIntegerField(null=True, blank=True)
    inputs = models.JSONField(default=list, blank=True, help_text="[{node, bytes, download_s, local}]")
    exec_s = models.FloatField(null=True, blank=True)
    cpu_s = models.FloatField(
        null=True,
        blank=True,
        help_text="CPU seconds the task used in its process (inputs, "
        "function, output): what a smaller CPU quota would slow.",
    )
    output_bytes = models.BigIntegerField(null=True, blank=True)
    upload_s = models.FloatField(null=True, blank=True)
    uploaded = models.BooleanField(null=True, blank=True)
    counter_update_s = models.FloatField(null=True, blank=True)
    dispatch_s = models.FloatField(null=True, blank=True)
    invocations = models.PositiveIntegerField(default=0, help_text="Branches this task's completion dispatched.")
    optimizations = models.JSONField(default=dict, blank=True)
    attempt_errors = models.JSONField(
        default=list, blank=True, help_text="Failed attempts before the last: [{attempt, error, at}] (retries)."
    )
    enforced = models.BooleanField(null=True, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "node_id"], name="taskrun_run_node_unique")]
        ordering = ["run", "start_s", "id"]

    def __str__(self) -> str:
        return f"{self.node_id} of run {self.run_id} [{self.status}]"


class WorkerStartup(models.Model):
    """One logical worker instance: a branch message taken up by a pool process."""

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="startups")
    branch_id = models.CharField(max_length=200)
    worker_id = models.CharField(max_length=100, blank=True)
    memory_mb = models.PositiveIntegerField()
    host = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    entry_nodes = models.JSONField(default=list)
    cold = models.BooleanField()
    reason = models.CharField(max_length=40, blank=True, help_text="Why cold/warm: " + ", ".join(startup_kinds.REASONS))
    requested_at = models.DateTimeField(help_text="Branch message sent.")
    started_at = models.DateTimeField(help_text="Pool process picked it up.")
    ready_at = models.DateTimeField(null=True, blank=True, help_text="First task began.")
    # Indexed: planning asks which processes served a workflow within the keep-alive window.
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    startup_s = models.FloatField(help_text="Requested → first task began.")
    active_s = models.FloatField(null=True, blank=True, help_text="Picked up → branch ended (billed time).")
    cpu_s = models.FloatField(null=True, blank=True)
    tasks = models.PositiveIntegerField(default=0)
    prewarmed = models.BooleanField(default=False, help_text="A pre-warm ping reached this process in time.")
    enforced = models.BooleanField(null=True, blank=True)
    code_s = models.FloatField(
        default=0.0,
        help_text=("Fetching and importing pushed workflow code before the first task (part of startup_s)."),
    )

    class Meta:
        ordering = ["run", "requested_at"]

    def __str__(self) -> str:
        return (
            f"{startup_kinds.COLD if self.cold else startup_kinds.WARM} {self.memory_mb} MB start of run {self.run_id}"
        )

    @property
    def gb_seconds(self) -> float:
        return (self.memory_mb / 1024) * (self.active_s or 0.0)


class Experiment(models.Model):
    """An SLA experiment campaign: every workflow × planner × SLA, several runs each (run_sla_experiments).

    Its schedule is stored up front (one ExperimentRun per run, in the seed's shuffled order), so an
    interrupted campaign resumes exactly where it stopped."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        INTERRUPTED = "interrupted"
        FINISHED = "finished"
        FAILED = "failed"

    name = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="slaflow_experiments"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    arguments = models.JSONField(help_text="workflows, planners, slas, iterations, warmup, params, seed.")
    seed = models.BigIntegerField()
    out_dir = models.CharField(max_length=500, help_text="Where results.csv and report.html are written.")
    machine = models.JSONField(default=dict, help_text="cores, memory, whether resource limits were enforced, host.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    wall_s = models.FloatField(default=0.0, help_text="Time spent running it, summed over resumes.")
    total_runs = models.PositiveIntegerField(default=0)
    done_runs = models.PositiveIntegerField(default=0)
    current = models.CharField(max_length=300, blank=True, help_text="The cell being run now.")
    pid = models.PositiveIntegerField(null=True, blank=True, help_text="Process running the campaign.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"experiment {self.pk} ({self.status}, {self.done_runs}/{self.total_runs})"


class ExperimentRun(models.Model):
    """One scheduled run of a campaign; ``run`` once submitted."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"  # the run ended (succeeded, or failed in a task: a result either way)
        FAILED = "failed"  # infrastructure trouble twice: counted as failed, the campaign went on

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    position = models.PositiveIntegerField(help_text="Order in the campaign (warm-ups first, then shuffled).")
    workflow = models.CharField(max_length=200)
    params = models.JSONField(default=dict)
    planner = models.CharField(max_length=40)
    sla = models.CharField(max_length=10)
    iteration = models.PositiveIntegerField()
    warmup = models.BooleanField(default=False, help_text="Builds history; kept apart from the results.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    run = models.ForeignKey(
        WorkflowRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="experiment_runs"
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [models.UniqueConstraint(fields=["experiment", "position"], name="experimentrun_position_unique")]

    def __str__(self) -> str:
        return f"#{self.position} {self.workflow} {self.planner}/{self.sla} ({self.status})"


class WorkflowCode(models.Model):
    """Workflow code a user pushed (``orchestrator.core.coderefs``, ``orchestrator.services.code``,
    ``workers.codeloader``): one importable name per owner, in versions.

    Pushing needs the ``orchestrator.push_code`` permission: pushed code runs on the workers with their
    privileges (docs/security.md). The owner shares it with users or groups, whose specs may then name it."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflow_code")
    name = models.CharField(max_length=64, help_text="The importable module or package name.")
    shared_with = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="code_shared_with_me")
    shared_with_groups = models.ManyToManyField("auth.Group", blank=True, related_name="code_shared")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["owner", "name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="workflowcode_owner_name_unique")]
        permissions = [("push_code", "Can push workflow code (it runs on the workers with their privileges)")]
        verbose_name = "pushed workflow code"
        verbose_name_plural = "pushed workflow code"

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"


class CodeBlob(models.Model):
    """The bytes of pushed code, once per content (sha256); versions of any owner point here."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    data = models.BinaryField()
    size = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size} bytes)"


class CodeVersion(models.Model):
    """One pushed version: 1, 2, … per (owner, name); immutable once stored."""

    class Kind(models.TextChoices):
        MODULE = "module"
        WHEEL = "wheel"

    code = models.ForeignKey(WorkflowCode, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    sha256 = models.ForeignKey(CodeBlob, on_delete=models.PROTECT, db_column="sha256", related_name="versions")
    size = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    filename = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code", "-version"]
        constraints = [models.UniqueConstraint(fields=["code", "version"], name="codeversion_unique")]

    def __str__(self) -> str:
        return f"{self.code}@{self.version} ({self.kind}, {self.sha256_id[:12]})"
