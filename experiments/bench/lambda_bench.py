"""``bench lambda``: the Lambda executor on the local Lambda-compatible endpoint (``localcluster.lambda_local``).

* **cold vs warm** per memory size: a pre-warm ping invoked synchronously on a function whose
  environments are all gone (cold: a new handler process under the configuration's cgroup limits imports
  slaflow, Django and the task code, then answers) and again at once (warm: the same process answers);
  client-side latency of the Invoke call, and the endpoint's own measure of the environment's start;
* **mixed run**: library workflows whose tasks alternate between a configuration on Lambda and ones on
  Celery workers (each task its own logical worker, so every edge crosses executors; big outputs through
  an S3 bucket — moto's server unless ``SLAFLOW_OBJECT_STORE_BUCKET`` is set), checked for correctness;
* **fan-out invoke rate**: ``fanouts_fanins`` with ``width`` tasks on Lambda dispatched by one task on a
  Celery worker — its ``dispatch_s`` (the invocations, on ``SLAFLOW_LAMBDA_INVOKE_THREADS`` threads)
  gives invocations per second; and pings sent from here with 1 thread against the default pool.

Measured, never asserted by tests. The endpoint and the Celery workers it needs are started here and
stopped at the end; the database and Redis are this deployment's.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from contextlib import ExitStack
from typing import Callable

from django.conf import settings
from django.test.utils import override_settings

from orchestrator import planning
from orchestrator.core import router
from orchestrator.planning.plan import Plan as PlanData, TaskPlan

FAKE_AWS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "slaflow-bench-lambda"
MIXED_PLANNER = "bench-mixed-executors"


def _spread(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "n": len(values),
    }


def _ping() -> dict:
    return {"v": 1, "task": router.PREWARM_TASK, "args": ["bench"], "kwargs": {}}


def _client(url: str, threads: int = 10):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(max_pool_connections=max(10, threads), read_timeout=120),
    )


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _credentials() -> None:
    """The local endpoint checks no signature, but boto3 signs: placeholder credentials unless some are set."""
    for k, v in FAKE_AWS.items():
        os.environ.setdefault(k, v)


def cold_warm(memories: list[int], repeat: int, progress=lambda *_: None) -> list[dict]:
    from localcluster.local_aws import endpoint_process, stats

    _credentials()
    rows = []
    functions = [f"bench-{mb}:{mb}:120" for mb in memories]
    with endpoint_process(FAKE_AWS, *functions, keepalive_s=1.0, concurrency=1) as url:
        lam = _client(url)
        for mb in memories:
            name, cold, warm = f"bench-{mb}", [], []
            for _ in range(repeat):
                progress(f"cold/warm {mb} MB")
                _wait(lambda name=name: stats(url)[name]["idle"] == 0, 60, "the idle environment to go")
                for into in (cold, warm):
                    t0 = time.perf_counter()
                    reply = lam.invoke(
                        FunctionName=name, InvocationType="RequestResponse", Payload=json.dumps(_ping()).encode()
                    )
                    into.append(time.perf_counter() - t0)
                    body = json.loads(reply["Payload"].read())
                    if reply.get("FunctionError"):
                        raise RuntimeError(f"{name}: {body}")
            snap = stats(url)[name]
            rows.append(
                {
                    "figure": "cold_vs_warm",
                    "memory_mb": mb,
                    "cpus": round(min(mb / 1792, 6), 2),
                    "cold_invoke_s": _spread(cold),
                    "warm_invoke_s": _spread(warm),
                    "environment_start_s": _spread(snap["cold_start_s"]),
                    "cold_starts": snap["cold"],
                    "warm_starts": snap["warm"],
                    "enforced": snap.get("enforced"),
                }
            )
    return rows


def _mixed_planner(lambda_mb: int, celery_mbs: list[int], first: str = "lambda"):
    """Each task its own logical worker, configurations alternating Lambda / Celery in topological order."""

    def plan(graph, predictor, config):
        from orchestrator.core.graph import toposort

        order = toposort(graph)
        tasks = {}
        for i, nid in enumerate(order):
            on_lambda = (i % 2 == 0) == (first == "lambda")
            mb = lambda_mb if on_lambda else celery_mbs[(i // 2) % len(celery_mbs)]
            tasks[nid] = TaskPlan(nid, mb, worker=f"W-{nid}", startup="unknown", start_s=0.0, end_s=0.0)
        return PlanData(planner=config.planner, sla=config.sla, tasks=tasks, note="bench: alternating executors")

    return plan


def _fanout_planner(lambda_mb: int, source_mb: int, sink_mb: int):
    def plan(graph, predictor, config):
        tasks = {}
        for nid in graph:
            mb = source_mb if nid.startswith("start") else sink_mb if nid.startswith("gather") else lambda_mb
            tasks[nid] = TaskPlan(nid, mb, worker=f"W-{nid}", startup="unknown", start_s=0.0, end_s=0.0)
        return PlanData(planner=config.planner, sla=config.sla, tasks=tasks, note="bench: fan-out on Lambda")

    return plan


def executors(
    *,
    lambda_mb: int,
    workflows: list[str],
    width: int,
    repeat: int,
    concurrency: int,
    timeout_s: float,
    progress=lambda *_: None,
    log=print,
) -> list[dict]:
    """The mixed runs and the fan-out, against one endpoint and Celery workers for the other configurations."""
    from experiments import runner
    from localcluster.launcher import LocalCluster, served_queues
    from localcluster.local_aws import endpoint_process, free_port, s3_server, stats
    from orchestrator.models import TaskRun

    celery_mbs = [mb for mb in settings.SLAFLOW_RESOURCE_CONFIGS if mb != lambda_mb]
    if lambda_mb not in settings.SLAFLOW_RESOURCE_CONFIGS or not celery_mbs:
        raise ValueError(
            f"--lambda-mb must be one of SLAFLOW_RESOURCE_CONFIGS "
            f"({settings.SLAFLOW_RESOURCE_CONFIGS}) and leave another for Celery"
        )
    if served_queues():
        raise ValueError(
            "workers already serve this Redis database's queues (they do not know the Lambda "
            "executor): stop them or use another REDIS_URL database"
        )
    _credentials()
    rows = []
    with ExitStack() as stack:
        bucket, s3_url = settings.SLAFLOW_OBJECT_STORE_BUCKET, settings.SLAFLOW_OBJECT_STORE_ENDPOINT_URL
        if not bucket:
            import boto3

            s3_url, bucket = stack.enter_context(s3_server(FAKE_AWS)), BUCKET
            boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1").create_bucket(Bucket=bucket)
            log(f"object store: moto's S3 at {s3_url}, bucket {bucket}")
        port = free_port()
        env = {
            "SLAFLOW_LAMBDA_CONFIGS": str(lambda_mb),
            "SLAFLOW_LAMBDA_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "SLAFLOW_OBJECT_STORE_BUCKET": bucket,
            **({"SLAFLOW_OBJECT_STORE_ENDPOINT_URL": s3_url} if s3_url else {}),
            "SLAFLOW_LAMBDA_TIMEOUT_S": str(int(timeout_s)),
            **FAKE_AWS,
        }
        stack.enter_context(
            override_settings(
                SLAFLOW_LAMBDA_CONFIGS=(lambda_mb,),
                SLAFLOW_LAMBDA_ENDPOINT_URL=env["SLAFLOW_LAMBDA_ENDPOINT_URL"],
                SLAFLOW_OBJECT_STORE_BUCKET=bucket,
                SLAFLOW_OBJECT_STORE_ENDPOINT_URL=s3_url,
            )
        )
        url = stack.enter_context(endpoint_process(env, keepalive_s=60.0, concurrency=concurrency, port=port))
        log(
            f"local Lambda endpoint at {url}: {router.function_for(lambda_mb)} ({lambda_mb} MB, "
            f"concurrency {concurrency}); Celery workers for {', '.join(map(str, celery_mbs))} MB"
        )
        cluster = LocalCluster(memory_configs=tuple(celery_mbs), env={**os.environ, **env})
        cluster.start(timeout_s=120)
        stack.callback(cluster.stop)
        saved = dict(planning.PLANNERS)
        stack.callback(lambda: (planning.PLANNERS.clear(), planning.PLANNERS.update(saved)))

        for name in workflows:
            planning.PLANNERS[MIXED_PLANNER] = _mixed_planner(lambda_mb, celery_mbs)
            for _ in range(repeat):
                progress(f"mixed {name}")
                summary = runner.run_and_check(name, planner=MIXED_PLANNER, sla="p90", params={}, timeout_s=timeout_s)
                on = {str(k): v for k, v in _memory_counts(summary["run_id"]).items()}
                rows.append(
                    {
                        "figure": "mixed_run",
                        "workflow": name,
                        "status": summary["status"],
                        "correct": summary["correct"],
                        "makespan_s": summary.get("makespan_s"),
                        "tasks_by_memory_mb": on,
                        "lambda_mb": lambda_mb,
                    }
                )

        planning.PLANNERS[MIXED_PLANNER] = _fanout_planner(lambda_mb, celery_mbs[0], celery_mbs[-1])
        for _ in range(repeat):
            progress(f"fan-out {width}")
            summary = runner.run_and_check(
                "fanouts_fanins",
                planner=MIXED_PLANNER,
                sla="p90",
                params={"width": width, "stages": 1},
                timeout_s=timeout_s,
            )
            src = TaskRun.objects.get(run_id=summary["run_id"], node_id="start-0")
            rows.append(
                {
                    "figure": "fanout_invoke_rate",
                    "width": width,
                    "status": summary["status"],
                    "correct": summary["correct"],
                    "invocations": src.invocations,
                    "dispatch_s": round(src.dispatch_s or 0, 4),
                    "invokes_per_s": round(src.invocations / src.dispatch_s, 1) if src.dispatch_s else None,
                    "invoke_threads": settings.SLAFLOW_LAMBDA_INVOKE_THREADS,
                    "makespan_s": summary.get("makespan_s"),
                    "endpoint_max_running": stats(url)[router.function_for(lambda_mb)]["max_running"],
                }
            )
    return rows


def _memory_counts(run_id: int) -> dict[int, int]:
    from django.db.models import Count

    from orchestrator.models import TaskRun

    return {
        r["memory_mb"]: r["n"]
        for r in TaskRun.objects.filter(run_id=run_id).values("memory_mb").annotate(n=Count("id")).order_by("memory_mb")
    }


def ping_rate(
    width: int, threads_options: list[int], repeat: int, latency_ms: float = 0.0, progress=lambda *_: None
) -> list[dict]:
    """``width`` asynchronous pings sent from this process with each thread count (the endpoint accepts
    each, 202, after ``latency_ms``: a simulated round trip to AWS; it runs them afterwards)."""
    from localcluster.local_aws import endpoint_process
    from workers import lambda_invoke

    _credentials()
    rows = []
    with endpoint_process(FAKE_AWS, "bench-ping:512:60", keepalive_s=5.0, concurrency=2, latency_ms=latency_ms) as url:
        for threads in threads_options:
            took = []
            for _ in range(repeat):
                progress(f"ping rate x{threads}")
                with override_settings(SLAFLOW_LAMBDA_ENDPOINT_URL=url, SLAFLOW_LAMBDA_INVOKE_THREADS=threads):
                    lambda_invoke.invoke("bench-ping", _ping())  # the client and its connections made
                    t0 = time.perf_counter()
                    lambda_invoke.invoke_all([("bench-ping", _ping()) for _ in range(width)])
                    took.append(time.perf_counter() - t0)
            rows.append(
                {
                    "figure": "ping_invoke_rate",
                    "width": width,
                    "threads": threads,
                    "latency_ms": latency_ms,
                    "seconds": _spread(took),
                    "invokes_per_s": round(width / statistics.median(took), 1),
                }
            )
    return rows
