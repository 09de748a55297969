"""Celery signal handlers: the worker lifecycle meets slaflow's hooks.

* ``worker_process_init``: a new pool process puts itself under its
  configuration's CPU quota and memory limit, starts with no warm state
  (``workers.context.reset_process_state``: no cached plans, graphs or
  functions of another process), and subscribes to the flags channel
  (``store.flags``) on which "run over" and "duplicate won" are announced.
* ``task_prerun``: a branch of a run that is already over (failed or
  cancelled) is flagged so it starts no task.
* ``worker_process_shutdown``: the dup locks the process still holds are released (token-checked).
* ``celeryd_after_setup``: a worker of a configuration's queue serves its host's queue of it too
  (``orchestrator.core.router.host_queue_for``: branches sent to where their inputs are).
* ``worker_init``: the host's data server (``store.tiers.serve``) starts in the worker's main
  process before its pool forks, and sweeps the host's output files of runs that are over.
* ``worker_ready``: the reaper that takes over dead workers' branches starts; a loud banner when
  limits cannot be enforced.

What these carry, and where the rest of each mechanism lives:

* **Cancellation checks** — the flags heard here are checked by hooks at every
  stage boundary: ``workers.core_hooks.RunFlags`` (run over, lease lost) and
  ``TaskDup`` (a duplicate won) raise before input grabbing, before execution
  and before upload, so a cancelled or duplicated task does none of the rest;
  an execution under way is interrupted (``workers.runtime``).
* **Dup locks** — ``orchestrator.optimizations.taskdup.runtime.acquire_lock`` /
  ``release_lock``: ``SET NX PX`` with the branch token as value, released by
  a Lua script only while the token matches; a branch runs one duplicate at a
  time.
* **Pre-warm pings** — ``workers.tasks.prewarm``: an ordinary Celery message
  on the target configuration's queue, sent by the planned sender's branch
  (``orchestrator.optimizations.prewarm.runtime``); the pool process that takes it
  loads the run's plan, graph, functions and connections, records its pid,
  and waits for its branch to be handed over (``prewarm.await_branch``; the
  dispatching task offers it, the branch's Celery message following as the
  fallback), so the branch starts warm there (a hit).
"""

from __future__ import annotations

import logging

from celery import signals

log = logging.getLogger("slaflow.signals")


@signals.worker_process_init.connect
def _init_pool_process(**kwargs):
    import sys

    from store import flags, redis_client
    from workers import cgroups
    from workers.context import reset_process_state

    # Background threads (record writer, lease heartbeat, flag listener) must not keep the branch's
    # thread waiting for the GIL after each Redis reply: Python's default 5 ms switch interval did
    # (a chain of 1,000 no-op tasks took 25 % longer while its records were written behind it).
    sys.setswitchinterval(0.0005)
    redis_client.use_worker_budget()  # ride out a Redis restart (the client is made anew)
    reset_process_state()
    cgroups.return_freed_memory()  # a long-lived process's freed arrays count against its limit otherwise
    flags.watcher()  # subscribed before the first task, so no "run is over" announcement is missed
    memory_mb = cgroups.worker_memory_mb()
    if memory_mb:
        limits = cgroups.apply(memory_mb)
        log.info(
            "pool process %s: %s MB / %s CPU, enforced=%s (%s)",
            limits.pid,
            limits.memory_mb,
            limits.cpus,
            limits.enforced,
            limits.detail,
        )
    try:
        from workers import lambda_invoke

        lambda_invoke.prepare()  # the Lambda and S3 clients, when a configuration runs on Lambda
    except Exception:  # made again at first use (and failing loudly there)
        log.exception("could not prepare the Lambda clients")


@signals.worker_init.connect
def _worker_redis_budget(**kwargs):
    """The main process's threads (the reaper and its watchdog) ride out a Redis restart too."""
    from store import redis_client

    redis_client.use_worker_budget()


@signals.celeryd_after_setup.connect
def _serve_host_queues(sender=None, instance=None, **kwargs):
    """Each configuration queue this worker serves, also on this host: ``rc-<mb>@<host>``."""
    from orchestrator.core import router
    from store import tiers

    queues = instance.app.amqp.queues
    for name in list(queues.consume_from or {}):
        if name.startswith(router.QUEUE_PREFIX) and "@" not in name:
            queues.select_add(router.host_queue_for(router.memory_of_queue(name), tiers.host_id()))


@signals.worker_init.connect
def _serve_outputs(**kwargs):
    """This host's output files, served to readers on other hosts; pool processes forked after this
    name the server in their outputs' locations."""
    from store import tiers

    try:
        tiers.serve()
    except Exception:  # readers on this host map the files; only other hosts would miss the server
        log.exception("cannot start this host's data server (SLAFLOW_HOST_ADDRESS)")


@signals.worker_init.connect
def _import_workflow_modules(**kwargs):
    """Load task code once in the main process, so forked pool processes share it and a
    misspelt SLAFLOW_WORKFLOW_MODULES entry shows up at start rather than mid-run."""
    import importlib

    from django.conf import settings

    for module in settings.SLAFLOW_WORKFLOW_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            log.exception("cannot import workflow module %r listed in SLAFLOW_WORKFLOW_MODULES", module)


@signals.worker_init.connect
def _announce_command_sandbox(**kwargs):
    """Probe once how command tasks will run here, before the pool forks; say it, loudly when unsandboxed."""
    from orchestrator.executables import sandbox

    try:
        sandbox.announce()
        sandbox.shield_worker()
    except Exception:  # never let the probe stop the worker; command tasks fail with the reason instead
        log.exception("cannot tell how command tasks will run on this worker")


@signals.task_prerun.connect
def _check_cancelled(sender=None, task_id=None, task=None, args=None, **kwargs):
    if getattr(sender, "name", "") != "workers.tasks.run_branch" or not args:
        return
    from store import dataplane

    try:
        task.request.slaflow_over = dataplane.is_over(int(args[0]))
    except Exception:  # never let a check stop the worker; the runtime checks again
        log.exception("cancellation check failed for %s", task_id)


@signals.worker_process_shutdown.connect
def _release_dup_locks(**kwargs):
    from orchestrator.optimizations.taskdup import runtime as taskdup

    freed = taskdup.release_held()
    if freed:
        log.info("released %d dup lock(s) at process shutdown", freed)


@signals.worker_process_shutdown.connect
def _flush_spans(**kwargs):
    from workers import tracing

    tracing.flush()  # the OTLP exporter's batch, when tracing is on


@signals.worker_ready.connect
def _publish_pool(sender=None, **kwargs):
    """The pool and its host's cores published as the worker comes up: its autoscaler publishes them only
    at each message and every keep-alive window, and a run queued before that would see no cores to cap its
    executors with (``store.readiness.executor_cap``)."""
    import time

    autoscaler = getattr(getattr(sender, "controller", None), "autoscaler", None)
    if autoscaler is not None and hasattr(autoscaler, "publish"):
        autoscaler.publish(time.time())


@signals.worker_ready.connect
def _banner(sender=None, **kwargs):
    from workers import cgroups, reaper

    reaper.start()  # takes over branches whose worker died, on any host (workers.reaper)

    memory_mb = cgroups.worker_memory_mb()
    if memory_mb:
        ok, detail = cgroups.probe()
        if not ok:
            log.warning(
                "!!! %s MB worker cannot enforce resource limits: %s — runs will say enforced=false", memory_mb, detail
            )
