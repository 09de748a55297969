"""Storing and running a campaign: resumable, one run at a time, infrastructure trouble retried once.

``create`` stores the Experiment and its whole schedule (one ExperimentRun per
run) and writes ``DIR/experiment.json``; ``open_dir`` finds it again for
``--resume``. ``run`` takes the pending runs in order. A run's id is stored the
moment it is submitted, so a campaign killed mid-run waits for that run when it
resumes instead of submitting it again: no run is done twice, none skipped.

A run that fails in a task is a result. A run that could not be carried out
(submission refused by Redis or the database, an internal error, a worker that
died on every delivery, no end within the timeout) is retried once, then
counted as failed, and the campaign goes on. A run its owner's quotas refuse
for now (runs at once, runs per hour: ``services.quotas``) waits and is
submitted again: a campaign takes its owner's share, never more.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from django.db import DatabaseError, transaction
from django.utils import timezone

from experiments.campaigns import design, report
from orchestrator.core.states import RunStatus
from orchestrator.handles import RunHandle
from orchestrator.models import Experiment, ExperimentRun, WorkflowRun
from orchestrator.services import quotas, runs as run_service, submissions
from store.redis_client import RedisUnavailable
from workers import cgroups

log = logging.getLogger("slaflow.experiments")

MANIFEST = "experiment.json"
ATTEMPTS = 2  # a run that fails for infrastructure reasons is tried once more
QUOTA_POLL_S = 10.0  # a run refused by its owner's run quotas is submitted again after at most this long


class CampaignError(design.CampaignError):
    pass


def machine_facts() -> dict:
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    enforced, detail = cgroups.probe()
    return {
        "host": socket.gethostname(),
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "limits_enforced": enforced,
        "limits": detail,
    }


def create(campaign: design.Campaign, *, out_dir: str | Path, owner=None, name: str = "") -> Experiment:
    """Store a campaign and its schedule; ``out_dir`` must not exist yet (``--resume`` continues one).
    The owner's campaign quotas (size, campaigns at once) are checked before anything is scheduled."""
    total = design.run_count(campaign)
    refused = quotas.check_campaign(owner, total)
    if refused:
        raise CampaignError(refused)
    out = Path(out_dir).expanduser().resolve()
    if out.exists():
        raise CampaignError(
            f"{out} already exists: pass --resume {out} to continue that campaign, or choose another --out"
        )
    slots = design.schedule(campaign)
    with transaction.atomic():
        refused = quotas.check_campaign(owner, total, lock=True)  # again, counting campaigns stored meanwhile
        if refused:
            raise CampaignError(refused)
        exp = Experiment.objects.create(
            name=name,
            owner=owner,
            arguments=campaign.as_json(),
            seed=campaign.seed,
            out_dir=str(out),
            total_runs=len(slots),
        )
        ExperimentRun.objects.bulk_create(
            [
                ExperimentRun(
                    experiment=exp,
                    position=k,
                    workflow=s.workflow,
                    params=s.params,
                    planner=s.planner,
                    sla=s.sla,
                    iteration=s.iteration,
                    warmup=s.warmup,
                )
                for k, s in enumerate(slots)
            ],
            batch_size=1000,
        )
    out.mkdir(parents=True)
    (out / MANIFEST).write_text(json.dumps({"experiment": exp.pk, "arguments": campaign.as_json()}, indent=2))
    return exp


def open_dir(out_dir: str | Path) -> Experiment:
    """The campaign stored for ``out_dir`` (by ``create``), to resume it."""
    path = Path(out_dir).expanduser().resolve() / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        raise CampaignError(f"{path.parent} holds no campaign ({MANIFEST} is missing or unreadable)") from None
    try:
        exp = Experiment.objects.get(pk=manifest["experiment"])
    except (KeyError, Experiment.DoesNotExist):
        raise CampaignError(
            f"the campaign of {path.parent} is not in this database (experiment {manifest.get('experiment')!r})"
        ) from None
    if exp.status == Experiment.Status.FINISHED:
        raise CampaignError(f"experiment {exp.pk} in {path.parent} is finished: nothing to resume")
    return exp


@dataclass
class Stop:
    """Set (e.g. by a SIGINT handler) to stop after the current run."""

    requested: bool = False


def _label(slot: ExperimentRun) -> str:
    kind = "warm-up" if slot.warmup else f"#{slot.iteration}"
    return f"{slot.workflow} · {slot.planner} · {slot.sla} {kind}"


def run(
    exp: Experiment,
    *,
    stop: Stop | None = None,
    timeout_s: float = 600.0,
    progress: Callable[[Experiment, str], None] = lambda exp, label: None,
) -> Experiment:
    """Run the campaign's pending runs in order until done or ``stop.requested``; write its files."""
    stop = stop or Stop()
    t0 = time.monotonic()
    Experiment.objects.filter(pk=exp.pk).update(
        status=Experiment.Status.RUNNING,
        pid=os.getpid(),
        machine=machine_facts(),
        error="",
        started_at=exp.started_at or timezone.now(),
    )
    exp.refresh_from_db()
    try:
        for slot in exp.runs.filter(status=ExperimentRun.Status.PENDING).order_by("position"):
            if stop.requested:
                break
            label = _label(slot)
            Experiment.objects.filter(pk=exp.pk).update(current=label)
            exp.current = label
            progress(exp, label)
            _carry_out(slot, timeout_s)
            exp.done_runs = exp.runs.exclude(status=ExperimentRun.Status.PENDING).count()
            Experiment.objects.filter(pk=exp.pk).update(done_runs=exp.done_runs)
            progress(exp, label)
    except BaseException as exc:
        status = Experiment.Status.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else Experiment.Status.FAILED
        Experiment.objects.filter(pk=exp.pk).update(
            status=status,
            current="",
            pid=None,
            wall_s=exp.wall_s + time.monotonic() - t0,
            error="" if status == "interrupted" else repr(exc),
        )
        exp.refresh_from_db()
        report.write_files(exp)
        raise
    finished = not exp.runs.filter(status=ExperimentRun.Status.PENDING).exists()
    Experiment.objects.filter(pk=exp.pk).update(
        status=Experiment.Status.FINISHED if finished else Experiment.Status.INTERRUPTED,
        current="",
        pid=None,
        wall_s=exp.wall_s + time.monotonic() - t0,
        ended_at=timezone.now() if finished else None,
    )
    exp.refresh_from_db()
    report.write_files(exp)
    return exp


def _carry_out(slot: ExperimentRun, timeout_s: float) -> None:
    """One scheduled run to its end: a result (done) or, after a retry, an infrastructure failure."""
    while True:
        if slot.run_id is None:
            slot.attempts += 1
            try:
                run = run_service.submit_library(
                    user=slot.experiment.owner,
                    workflow=slot.workflow,
                    params=slot.params,
                    planner=slot.planner,
                    sla=slot.sla,
                )
            except (RedisUnavailable, DatabaseError) as exc:
                if _give_up(slot, f"submission failed: {type(exc).__name__}: {exc}"):
                    return
                time.sleep(1.0)
                continue
            except quotas.QuotaExceeded as exc:  # the owner's share is taken for now: wait for it, not a failure
                log.info("experiment %s, %s: %s", slot.experiment_id, _label(slot), exc)
                slot.attempts -= 1
                time.sleep(min(exc.retry_after_s, QUOTA_POLL_S))
                continue
            except submissions.SubmissionError as exc:  # not the infrastructure: record it, go on
                slot.status, slot.error = ExperimentRun.Status.FAILED, f"refused: {exc}"
                slot.save(update_fields=["status", "error", "attempts"])
                return
            slot.run_id = run.pk
            slot.save(update_fields=["run", "attempts"])
        problem = _wait(slot.run_id, timeout_s)
        if problem is None:
            slot.status = ExperimentRun.Status.DONE
            slot.save(update_fields=["status", "error"])
            return
        slot.run_id = None  # the failed attempt stays in the database, apart from the campaign
        if _give_up(slot, problem):
            return


def _give_up(slot: ExperimentRun, problem: str) -> bool:
    log.warning(
        "experiment %s, %s: %s (attempt %d of %d)", slot.experiment_id, _label(slot), problem, slot.attempts, ATTEMPTS
    )
    slot.error = problem
    if slot.attempts < ATTEMPTS:
        slot.save(update_fields=["error", "attempts", "run"])
        return False
    slot.status = ExperimentRun.Status.FAILED
    slot.save(update_fields=["status", "error", "attempts", "run"])
    return True


def _wait(run_id: int, timeout_s: float) -> str | None:
    """None when the run ended with a result (it succeeded, or a task failed); else what went wrong."""
    try:
        RunHandle(run_id).wait(timeout_s)
    except TimeoutError:
        run_service.cancel_run(run_id)
        return f"run {run_id} did not end within {timeout_s:.0f} s (cancelled)"
    run = WorkflowRun.objects.only("status", "error", "failed_node").get(pk=run_id)
    return infrastructure_problem(run)


def infrastructure_problem(run: WorkflowRun) -> str | None:
    """Why a finished run says nothing about its planner (None when it is a result)."""
    if run.status == RunStatus.SUCCEEDED:
        return None
    if run.status == RunStatus.CANCELLED:
        return f"run {run.pk} was cancelled"
    error = run.error or ""
    if not run.failed_node or error.startswith(("internal error", "planning failed")) or "was delivered" in error:
        return f"run {run.pk} failed outside its tasks: {error[:300]}"
    return None  # a task raised: that is the workflow's result


def launch_in_background(exp: Experiment) -> int:
    """Run a stored campaign in a process of its own (the web UI's launch); its log goes to its directory."""
    import subprocess
    import sys

    from django.conf import settings

    log_path = Path(exp.out_dir) / "campaign.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(settings.BASE_DIR) / "manage.py"),
                "run_sla_experiments",
                "--resume",
                exp.out_dir,
            ],
            cwd=str(settings.BASE_DIR),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(os.environ),
        )
    Experiment.objects.filter(pk=exp.pk).update(pid=proc.pid)
    return proc.pid


def default_out_dir() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "experiments" / timezone.now().strftime("%Y%m%d-%H%M%S-%f")
