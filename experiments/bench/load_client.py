"""One client process of ``bench load`` (spawned: Django is set up here, not inherited; nothing at
import time may touch Django, because the pool imports this module before the initializer runs)."""

from __future__ import annotations

import os
import time


def init(settings_module: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()


def ready(_: int) -> bool:
    time.sleep(0.2)  # hold this client so that the pool starts every one of them
    return True


def submit(tasks: int) -> tuple[int, float]:
    from experiments.bench.workloads import fanout_of
    from orchestrator.services.runs import submit_run

    graph = fanout_of(tasks)
    t0 = time.perf_counter()
    run = submit_run(graph=graph, name=f"load-{tasks}", planner="wukong", sla="p90")
    return run.pk, time.perf_counter() - t0
