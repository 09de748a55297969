"""Fair sharing: how much of the service one user may take, decided in one place.

Every entry point that acts for a user comes through here — the REST API,
the web forms (launch, campaigns), campaign runs, the Python API with an
``owner`` — so a limit reads the same wherever it is met:

    limit                       setting                         met as
    runs active at once         SLAFLOW_QUOTA_CONCURRENT_RUNS   QuotaExceeded (REST 429, Retry-After)
    runs submitted per hour     SLAFLOW_QUOTA_RUNS_PER_HOUR     QuotaExceeded (REST 429, Retry-After)
    runs one campaign schedules SLAFLOW_QUOTA_CAMPAIGN_RUNS     CampaignError before anything is stored
    campaigns active at once    SLAFLOW_QUOTA_ACTIVE_CAMPAIGNS  CampaignError (one process per campaign)
    a task's time limit         SLAFLOW_QUOTA_MAX_TIMEOUT_S     SubmissionError on timeout_s / the node
    tasks per run, mapped       SLAFLOW_API_MAX_TASKS           SubmissionError at submission; at run
    elements counted                                            time the run fails naming both numbers

Who is bound: users. Runs without an owner are the operator's own (Python
code, ``slaflow run``, command campaigns): they are not counted, as the
operator can run anything on the workers anyway; staff are exempt from the
per-user quotas while ``SLAFLOW_QUOTA_STAFF_EXEMPT`` is on (the default). The
task budget and the library's parameter bounds hold for everyone: they are
the service's sanity bounds more than a share. A quota of 0 is off.

Counting is exact under concurrency: ``admit`` runs inside the transaction
that stores the run and first locks the owner's row, so two submissions of
one user are admitted one after the other and cannot both take the last slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from orchestrator.core.states import RunStatus
from orchestrator.models import Experiment, WorkflowRun
from orchestrator.services.errors import SubmissionError

ACTIVE_RUNS = (RunStatus.PENDING, RunStatus.PLANNING, RunStatus.RUNNING)
ACTIVE_CAMPAIGNS = (Experiment.Status.PENDING, Experiment.Status.RUNNING)
WINDOW = timedelta(hours=1)


class QuotaExceeded(SubmissionError):
    """A user is over a rate-like quota: trying again later can succeed (``retry_after_s``)."""

    def __init__(self, message: str, field: str = "non_field_errors", *, retry_after_s: float):
        super().__init__(message, field)
        self.retry_after_s = max(1, math.ceil(retry_after_s))


@dataclass(frozen=True)
class Limits:
    """One user's limits; None: no limit."""

    concurrent_runs: int | None
    runs_per_hour: int | None
    campaign_runs: int | None
    active_campaigns: int | None
    max_timeout_s: float | None


def _on(value):
    return value if value and value > 0 else None


def limits_for(user) -> Limits:
    if user is None or (user.is_staff and settings.SLAFLOW_QUOTA_STAFF_EXEMPT):
        return Limits(None, None, None, None, None)
    return Limits(
        concurrent_runs=_on(settings.SLAFLOW_QUOTA_CONCURRENT_RUNS),
        runs_per_hour=_on(settings.SLAFLOW_QUOTA_RUNS_PER_HOUR),
        campaign_runs=_on(settings.SLAFLOW_QUOTA_CAMPAIGN_RUNS),
        active_campaigns=_on(settings.SLAFLOW_QUOTA_ACTIVE_CAMPAIGNS),
        max_timeout_s=_on(settings.SLAFLOW_QUOTA_MAX_TIMEOUT_S),
    )


def _lock(user) -> None:
    """The owner's row lock, held to the end of the caller's transaction: one admission at a time."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()


# --- runs ------------------------------------------------------------------------------------


def admit(user, *, lock: bool = False) -> None:
    """Raise QuotaExceeded if ``user`` may not start another run now. ``lock`` (inside the transaction
    that stores the run): take the owner's row lock first, so concurrent submissions count each other."""
    limits = limits_for(user)
    if limits.concurrent_runs is None and limits.runs_per_hour is None:
        return
    if lock:
        _lock(user)
    mine = WorkflowRun.objects.filter(owner=user)
    if limits.concurrent_runs is not None:
        active = mine.filter(status__in=ACTIVE_RUNS).count()
        if active >= limits.concurrent_runs:
            raise QuotaExceeded(
                f"you have {active} runs pending or running, the most one user may have at once "
                f"(SLAFLOW_QUOTA_CONCURRENT_RUNS={limits.concurrent_runs}); submit again when one has ended",
                retry_after_s=5,
            )
    if limits.runs_per_hour is not None:
        since = timezone.now() - WINDOW
        recent = mine.filter(submitted_at__gte=since)
        count = recent.count()
        if count >= limits.runs_per_hour:
            oldest = recent.order_by("submitted_at").values_list("submitted_at", flat=True).first()
            wait = (oldest - since).total_seconds() if oldest else WINDOW.total_seconds()
            raise QuotaExceeded(
                f"you submitted {count} runs in the last hour, the most one user may "
                f"(SLAFLOW_QUOTA_RUNS_PER_HOUR={limits.runs_per_hour}); try again in {math.ceil(wait)} s",
                retry_after_s=wait,
            )


def check_timeouts(user, graph, timeout_s: float | None) -> None:
    """A run's default task time limit and every task's own stay within what ``user`` may ask for."""
    cap = limits_for(user).max_timeout_s
    if cap is None:
        return
    if timeout_s is not None and timeout_s > cap:
        raise SubmissionError(
            f"timeout_s {timeout_s:g} s is over the longest task time limit a user may ask "
            f"for (SLAFLOW_QUOTA_MAX_TIMEOUT_S={cap:g})",
            "timeout_s",
        )
    for nid, node in graph.items():
        own = node.options_dict.get("timeout_s")
        if isinstance(own, (int, float)) and not isinstance(own, bool) and own > cap:
            raise SubmissionError(
                f"node {nid!r}: option 'timeout_s' {own:g} s is over the longest task time "
                f"limit a user may ask for (SLAFLOW_QUOTA_MAX_TIMEOUT_S={cap:g})",
                "dag",
            )


# --- campaigns -------------------------------------------------------------------------------


def check_campaign(user, total_runs: int, *, lock: bool = False) -> str | None:
    """Why ``user`` may not start a campaign of ``total_runs`` runs now (None: they may). The caller
    raises its own error type (``experiments.campaigns.design.CampaignError``); ``lock`` as in ``admit``."""
    limits = limits_for(user)
    if lock and limits.active_campaigns is not None:
        _lock(user)
    if limits.campaign_runs is not None and total_runs > limits.campaign_runs:
        return (
            f"the campaign would make {total_runs} runs, more than one campaign of a user may "
            f"(SLAFLOW_QUOTA_CAMPAIGN_RUNS={limits.campaign_runs})"
        )
    if limits.active_campaigns is not None:
        active = Experiment.objects.filter(owner=user, status__in=ACTIVE_CAMPAIGNS).count()
        if active >= limits.active_campaigns:
            return (
                f"you have {active} campaign(s) pending or running, the most one user may have at once "
                f"(SLAFLOW_QUOTA_ACTIVE_CAMPAIGNS={limits.active_campaigns}); wait for one to end"
            )
    return None
