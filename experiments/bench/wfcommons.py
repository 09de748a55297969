"""Real workflow shapes for ``bench runtime --family wfcommons``: WfCommons recipes → slaflow graphs.

WfCommons (``pip install wfcommons``, in the ``bench`` extra) ships *recipes* built from execution
traces of real scientific workflows — Montage, Epigenomics, 1000Genome, BWA, BLAST, SRASearch,
Seismology, SoyKB, Cycles — that generate synthetic instances of any size with the traced
structure, task runtimes and file sizes. This module turns one instance into a benchmark graph:

1. ``generate(recipe, tasks, seed)``: the instance (WfCommons seeded through Python's and numpy's
   global generators, so a seed replays it) as plain data: ``Job``s in topological order, each with
   its recipe runtime, the total size of its output files and its parents.
2. ``scale(instance, cpu_s=..., total_bytes=..., max_bytes=...)``: runtimes scaled so the whole DAG
   is ``cpu_s`` CPU-seconds, output sizes scaled so that the intermediates add up to ``total_bytes``
   with no single output above ``max_bytes`` (one factor for all, outputs at the cap stay there: the
   shape of the size distribution is kept below the cap).
3. ``build(instance, scaled)``: a slaflow graph — every job a ``tasks.wf_task`` that reads and
   checksums all its parents' outputs, busy-loops for its scaled runtime (CPU time) and returns its
   scaled output (a numpy byte array derived from its inputs' checksums); one ``wf_collect`` reads the
   exit jobs' outputs and returns a digest of the whole run's data, so slaflow and Dask
   (``workloads.dask_graph`` of the same graph) must agree on every byte.
4. ``machine_limit(instance, scaled, cores)``: no system can beat max(the critical path's CPU time at
   one core, total CPU / cores). ``lower_bound`` is a tighter bound that no system can beat either: a
   DAG whose serial stages leave cores idle (BWA: one long job, then a wide stage, then one long job)
   cannot finish at the machine limit on any scheduler.

Everything but ``generate`` is pure over plain data.
"""

from __future__ import annotations

import inspect
import json
import random
from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.authoring import build_graph
from orchestrator.core.graph import Graph

# WfCommons recipe classes (wfcommons.wfchef.recipes.<Class>) under the bench's names.
RECIPES = {
    "montage": "MontageRecipe",
    "epigenomics": "EpigenomicsRecipe",
    "1000genome": "GenomeRecipe",
    "bwa": "BwaRecipe",
    "blast": "BlastRecipe",
    "srasearch": "SrasearchRecipe",
    "seismology": "SeismologyRecipe",
    "soykb": "SoykbRecipe",
    "cycles": "CyclesRecipe",
}
DEFAULT_RECIPES = ("montage", "1000genome", "bwa", "epigenomics")
MIN_BYTES = 64  # a job without output files still hands its children a (tiny) output


class WfCommonsMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Job:
    id: str  # WfCommons' task id, e.g. individuals_00000001 (the graph node's id)
    category: str
    runtime_s: float  # the recipe's runtime
    output_bytes: int  # the recipe's output files, summed
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Instance:
    recipe: str
    seed: int
    jobs: tuple[Job, ...]  # topological order

    def exits(self) -> list[str]:
        """Jobs no other job reads from (their outputs are the workflow's products)."""
        read = {p for job in self.jobs for p in job.parents}
        return [job.id for job in self.jobs if job.id not in read]


@dataclass(frozen=True)
class Scaled:
    """What each job does in the benchmark."""

    busy_s: dict[str, float]
    out_bytes: dict[str, int]

    @property
    def cpu_s(self) -> float:
        return sum(self.busy_s.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.out_bytes.values())


def _recipe_class(recipe: str):
    if recipe not in RECIPES:
        raise ValueError(f"unknown WfCommons recipe {recipe!r}; one of: {', '.join(RECIPES)}")
    try:
        from wfcommons.wfchef import recipes
    except ImportError:
        raise WfCommonsMissing("WfCommons is not installed: pip install -e '.[bench]'") from None
    return getattr(recipes, RECIPES[recipe])


def min_tasks(recipe: str) -> int:
    """The smallest instance the recipe makes (its smallest traced base graph)."""
    summary = Path(inspect.getfile(_recipe_class(recipe))).parent / "microstructures" / "summary.json"
    return min(int(g["order"]) for g in json.loads(summary.read_text())["base_graphs"].values())


def generate(recipe: str, num_tasks: int, seed: int) -> Instance:
    """A WfCommons instance of about ``num_tasks`` tasks (at least the recipe's minimum), replayable by seed."""
    import numpy as np
    from wfcommons import WorkflowGenerator

    cls = _recipe_class(recipe)
    num_tasks = max(int(num_tasks), min_tasks(recipe))
    state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    try:
        workflow = WorkflowGenerator(cls.from_num_tasks(num_tasks)).build_workflow()
    finally:
        random.setstate(state)
        np.random.set_state(np_state)
    return from_workflow(recipe, seed, workflow)


def from_workflow(recipe: str, seed: int, workflow) -> Instance:
    """Plain data from a WfCommons ``Workflow`` (a networkx DiGraph of tasks)."""
    parents = {tid: sorted(workflow.predecessors(tid)) for tid in workflow.nodes}
    jobs, done = [], set()
    order = sorted(workflow.nodes)  # a deterministic Kahn order: ties by id
    while len(jobs) < len(order):
        progressed = False
        for tid in order:
            if tid not in done and all(p in done for p in parents[tid]):
                task = workflow.nodes[tid]["task"]
                size = sum(int(f.size or 0) for f in task.output_files)
                jobs.append(
                    Job(tid, str(task.category or task.name), float(task.runtime or 0.0), size, tuple(parents[tid]))
                )
                done.add(tid)
                progressed = True
        if not progressed:
            raise ValueError(f"the {recipe} instance has a cycle among {sorted(set(order) - done)[:5]}")
    return Instance(recipe, seed, tuple(jobs))


def scale(instance: Instance, *, cpu_s: float, total_bytes: int, max_bytes: int) -> Scaled:
    """Runtimes to ``cpu_s`` CPU-seconds in all; output sizes to ``total_bytes`` in all, none above
    ``max_bytes`` (the factor is found by bisection: sizes at the cap stop growing)."""
    runtime = sum(j.runtime_s for j in instance.jobs)
    busy = {j.id: (j.runtime_s * cpu_s / runtime if runtime > 0 else cpu_s / len(instance.jobs)) for j in instance.jobs}
    sizes = {j.id: max(j.output_bytes, 1) for j in instance.jobs}
    total_bytes = min(total_bytes, max_bytes * len(sizes))

    def scaled(factor: float) -> dict[str, int]:
        return {k: max(MIN_BYTES, min(max_bytes, int(v * factor))) for k, v in sizes.items()}

    lo, hi = 0.0, total_bytes / min(sizes.values())  # at hi every output is at least at the cap
    for _ in range(100):
        mid = (lo + hi) / 2
        if sum(scaled(mid).values()) < total_bytes:
            lo = mid
        else:
            hi = mid
    return Scaled(busy, scaled(hi))


def machine_limit(instance: Instance, scaled: Scaled, cores: float) -> float:
    """max(the longest path of CPU time, total CPU / cores): no runtime finishes sooner on ``cores``."""
    longest: dict[str, float] = {}
    for job in instance.jobs:
        longest[job.id] = max((longest[p] for p in job.parents), default=0.0) + scaled.busy_s[job.id]
    return max(max(longest.values()), scaled.cpu_s / cores)


def lower_bound(instance: Instance, scaled: Scaled, cores: float) -> float:
    """A makespan no runtime beats on ``cores`` (each job on one core at most), at least ``machine_limit``.

    A job ``v`` starts once all its ancestors are done: no sooner than their longest path, nor than
    their CPU over the cores (``before(v)``); after it ends its descendants still take their longest
    path, or their CPU over the cores (``after(v)``). And for a job ``b`` below ``a``, everything
    between them runs after ``a`` ends and before ``b`` starts. So no run ends before
    ``before(a) + busy(a) + CPU between / cores + busy(b) + after(b)`` for any such pair (``a = b``
    included); the bound is the largest. ::

        one 5 s job → 10 jobs of 0.4 s → one 3 s job, 2 cores: machine limit max(8.4, 6) = 8.4 s;
        lower bound 5 + 4 / 2 + 3 = 10 s (nothing else can run beside the first and the last job)
    """
    import numpy as np

    jobs = instance.jobs
    n = len(jobs)
    pos = {job.id: k for k, job in enumerate(jobs)}
    busy = np.array([scaled.busy_s[job.id] for job in jobs])
    anc = np.zeros((n, n), dtype=bool)  # anc[k, j]: j is an ancestor of k (jobs are in topological order)
    children: list[list[int]] = [[] for _ in jobs]
    for k, job in enumerate(jobs):
        for p in job.parents:
            anc[k] |= anc[pos[p]]
            anc[k, pos[p]] = True
            children[pos[p]].append(k)
    desc = anc.T
    before, after = np.zeros(n), np.zeros(n)
    for k, job in enumerate(jobs):
        path = max((before[pos[p]] + busy[pos[p]] for p in job.parents), default=0.0)
        before[k] = max(path, busy[anc[k]].sum() / cores)
    for k in reversed(range(n)):
        path = max((busy[c] + after[c] for c in children[k]), default=0.0)
        after[k] = max(path, busy[desc[k]].sum() / cores)
    between = (desc * busy) @ anc.T.astype(float)  # [a, b]: CPU of the jobs below a and above b
    pairs = (before + busy)[:, None] + between / cores + (busy + after)[None, :]
    tight = max(float(pairs[desc].max(initial=0.0)), float((before + busy + after).max()))
    return max(tight, machine_limit(instance, scaled, cores))


def build(instance: Instance, scaled: Scaled, *, by_category: bool = False) -> Graph:
    """The slaflow graph: a ``wf_task`` per job (ids are WfCommons' task ids) and one ``wf_collect``.
    ``by_category``: each job category its own task function (``tasks.wf_kind<k>``, categories in
    sorted order), as a real workflow runs one program per category."""
    from experiments.bench import tasks as t

    kinds = {c: k % t.KINDS for k, c in enumerate(sorted({j.category for j in instance.jobs}))}
    lazy = {}
    for key, job in enumerate(instance.jobs):
        inputs = [lazy[p] for p in job.parents]
        fn = getattr(t, f"wf_kind{kinds[job.category]}") if by_category else t.wf_task
        lazy[job.id] = fn(key, round(scaled.busy_s[job.id], 6), scaled.out_bytes[job.id], inputs).named(job.id)
    return build_graph(t.wf_collect([lazy[j] for j in instance.exits()]).named("collect"))


def describe(instance: Instance, scaled: Scaled) -> str:
    return (
        f"{instance.recipe} seed {instance.seed}: {len(instance.jobs)} jobs, {scaled.cpu_s:.1f} CPU-s, "
        f"{scaled.total_bytes / 1e6:.0f} MB of outputs (largest {max(scaled.out_bytes.values()) / 1e6:.1f} MB)"
    )
