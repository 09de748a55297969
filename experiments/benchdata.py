"""Seeded random DAGs and synthetic history, for planning benchmarks and tests.

``random_dag(n, seed)`` builds a layered DAG with exactly one sink: each
task takes 1–3 inputs, mostly from the layer just above; every task is
consumed by something later; the last layer feeds the sink. Functions are
``bench.f0`` … ``bench.f9`` (never run: planning only needs their names).

``synthetic_history(...)`` gives every function a known behaviour per
configuration — an exec time with a per-function base, a CPU-bound share that
scales with memory, and noise — plus transfers and start-ups, so the
predictor has what a real workflow's history would give it.
"""

from __future__ import annotations

import random

from orchestrator.core.graph import Node, Ref
from orchestrator.planning.history import History, StartupSample, TaskSample, TransferSample

FUNCTIONS = tuple(f"bench.f{k}" for k in range(10))


def random_dag(n: int, seed: int = 0, width: int | None = None) -> dict[str, Node]:
    if n < 2:
        raise ValueError(f"a benchmark DAG needs at least 2 tasks, got {n}")
    rng = random.Random(seed)
    width = width or max(2, int(round(n**0.5)))
    body = n - 1
    layers: list[list[str]] = []
    ups: dict[str, list[str]] = {}
    made = 0
    while made < body:
        size = min(body - made, max(1, int(rng.uniform(0.5, 1.5) * width)))
        layer = [f"t{made + k}" for k in range(size)]
        for nid in layer:
            ups[nid] = []
            if layers:
                for _ in range(rng.choice((1, 1, 2, 2, 3))):
                    source = layers[-1] if rng.random() < 0.8 or len(layers) < 2 else rng.choice(layers[:-1])
                    u = rng.choice(source)
                    if u not in ups[nid]:
                        ups[nid].append(u)
        layers.append(layer)
        made += size
    consumed = {u for us in ups.values() for u in us}
    for k, layer in enumerate(layers[:-1]):
        for nid in layer:
            if nid not in consumed:
                later = rng.choice(layers[k + 1])
                ups[later].append(nid)
                consumed.add(nid)
    sink_ups = [nid for nid in layers[-1]]
    graph = {}
    for nid, us in ups.items():
        fn = FUNCTIONS[int(nid[1:]) * 7919 % len(FUNCTIONS)]
        graph[nid] = Node(nid, fn, args=tuple(Ref(u) for u in us) or (int(nid[1:]),))
    graph["sink"] = Node("sink", FUNCTIONS[0], args=(tuple(Ref(u) for u in sink_ups),))
    return graph


def synthetic_history(
    *, memory_options=(512, 1024, 2048), samples: int = 40, seed: int = 0, functions=FUNCTIONS, cap: int = 100
) -> History:
    rng = random.Random(seed)
    h = History(cap=cap)
    for k, fn in enumerate(functions):
        base = 0.01 + 0.02 * k  # seconds of fixed work
        cpu = 0.05 * (k % 4)  # seconds of CPU work at one full CPU
        ratio = 0.5 + 0.25 * (k % 3)
        for mb in memory_options:
            cpus = min(mb / 1792, 6)
            for _ in range(samples):
                size = int(rng.uniform(1e3, 4e5))
                ex = (base + cpu / cpus) * (0.5 + size / 4e5) * rng.lognormvariate(0, 0.15)
                out = int(rng.uniform(1e3, 1e5) * ratio)  # not proportional to input: sizes stay bounded
                h.add_task(
                    fn,
                    mb,
                    TaskSample(size, ex, out, post_s=0.002 * rng.uniform(1, 2), cpu_s=cpu * (0.5 + size / 4e5) or None),
                )
    for mb in memory_options:
        for _ in range(samples):
            size = int(rng.uniform(1e3, 5e5))
            h.add_download(mb, TransferSample(size, 0.0005 + size / 150e6 * rng.uniform(0.8, 1.6)))
            h.add_upload(mb, TransferSample(size, 0.0008 + size / 120e6 * rng.uniform(0.8, 1.6)))
            h.add_startup(mb, "new", StartupSample(0.4 * rng.uniform(0.7, 1.6), 0.05))
            h.add_startup(mb, "cold", StartupSample(0.04 * rng.uniform(0.7, 1.6), 0.03))
            h.add_startup(mb, "warm", StartupSample(0.01 * rng.uniform(0.7, 2.0), 0.002))
    return h
