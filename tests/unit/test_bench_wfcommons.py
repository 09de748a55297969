"""The WfCommons family's translation (experiments.bench.wfcommons): recipe instance → slaflow graph."""

import numpy as np
import pytest

from experiments.bench import tasks as t, wfcommons as wf, workloads
from orchestrator.core.graph import Ref, find_cycle, sink, toposort


def tiny() -> wf.Instance:
    """
        a (1 s, 10 B)   b (3 s, 30 B)
              \\         /     \\
               c (2 s, 0 B)    d (2 s, 100 B)
    """
    return wf.Instance(
        "tiny",
        0,
        (
            wf.Job("a", "split", 1.0, 10, ()),
            wf.Job("b", "split", 3.0, 30, ()),
            wf.Job("c", "merge", 2.0, 0, ("a", "b")),
            wf.Job("d", "map", 2.0, 100, ("b",)),
        ),
    )


def _refs(node) -> list[str]:
    return [a.node_id for a in node.args[3]] if node.function.endswith("wf_task") else [a.node_id for a in node.args[0]]


def test_scale_keeps_the_proportions_and_caps_the_largest_output():
    inst = tiny()
    s = wf.scale(inst, cpu_s=4.0, total_bytes=1000, max_bytes=500)
    assert s.cpu_s == pytest.approx(4.0)
    assert s.busy_s["b"] == pytest.approx(3 * s.busy_s["a"]) and s.busy_s["c"] == pytest.approx(2 * s.busy_s["a"])
    # d is capped; the others grow until the total is met (c had no output: the minimum).
    assert s.out_bytes["d"] == 500 and s.out_bytes["c"] == wf.MIN_BYTES
    assert s.total_bytes == pytest.approx(1000, abs=4)
    assert s.out_bytes["b"] == pytest.approx(3 * s.out_bytes["a"], abs=2) and max(s.out_bytes.values()) <= 500


def test_machine_limit_is_the_critical_path_or_the_cpu_over_cores():
    inst = tiny()
    s = wf.scale(inst, cpu_s=8.0, total_bytes=1000, max_bytes=500)  # a 1, b 3, c 2, d 2
    assert wf.machine_limit(inst, s, cores=2) == pytest.approx(5.0)  # b → c (or d): 3 + 2 > 8 / 2
    assert wf.machine_limit(inst, s, cores=1) == pytest.approx(8.0)


def test_the_lower_bound_sees_serial_stages_the_machine_limit_does_not():
    """
         h (5 s)                 one long job, a wide stage of 10 × 0.4 s, one long job (BWA's shape):
      /  |  ...  \\             on 2 cores the head and the tail run alone, the stage takes 4 / 2 s
    w0  w1  ...  w9
      \\  |  ...  /
         t (3 s)
    """
    jobs = [wf.Job("h", "head", 5.0, 10, ())]
    jobs += [wf.Job(f"w{k}", "wide", 0.4, 10, ("h",)) for k in range(10)]
    jobs.append(wf.Job("t", "tail", 3.0, 10, tuple(f"w{k}" for k in range(10))))
    inst = wf.Instance("serial-stages", 0, tuple(jobs))
    s = wf.scale(inst, cpu_s=12.0, total_bytes=1000, max_bytes=500)
    assert wf.machine_limit(inst, s, cores=2) == pytest.approx(8.4)  # the critical path 5 + 0.4 + 3
    assert wf.lower_bound(inst, s, cores=2) == pytest.approx(5 + 2 + 3)
    assert wf.lower_bound(inst, s, cores=10) == pytest.approx(8.4)  # the stage in one go: the path again
    # Never below the machine limit, and equal to it where it is tight (tiny: b → c on 2 cores; 1 core: the CPU).
    tiny_inst = tiny()
    t2 = wf.scale(tiny_inst, cpu_s=8.0, total_bytes=1000, max_bytes=500)
    assert wf.lower_bound(tiny_inst, t2, cores=2) == pytest.approx(5.0)
    assert wf.lower_bound(tiny_inst, t2, cores=1) == pytest.approx(8.0)


def test_the_graph_carries_every_job_its_runtime_size_and_inputs():
    inst = tiny()
    s = wf.scale(inst, cpu_s=4.0, total_bytes=1000, max_bytes=500)
    g = wf.build(inst, s)
    assert set(g) == {"a", "b", "c", "d", "collect"} and sink(g) == "collect"
    assert find_cycle(g) is None and toposort(g)[-1] == "collect"
    for job in inst.jobs:
        node = g[job.id]
        assert node.args[1] == pytest.approx(s.busy_s[job.id], abs=1e-6) and node.args[2] == s.out_bytes[job.id]
        assert _refs(node) == list(job.parents)
    assert _refs(g["collect"]) == inst.exits() == ["c", "d"]


def test_recipe_instances_are_acyclic_replayable_and_sized():
    inst = wf.generate("epigenomics", 60, seed=11)
    assert inst == wf.generate("epigenomics", 60, seed=11)
    assert inst != wf.generate("epigenomics", 60, seed=12)
    assert 40 <= len(inst.jobs) <= 60 and any(j.parents for j in inst.jobs)
    assert sum(j.runtime_s for j in inst.jobs) > 0 and sum(j.output_bytes for j in inst.jobs) > 0
    s = wf.scale(inst, cpu_s=3.0, total_bytes=50_000_000, max_bytes=5_000_000)
    g = wf.build(inst, s)
    assert g == wf.build(wf.generate("epigenomics", 60, seed=11), s)
    assert find_cycle(g) is None and len(g) == len(inst.jobs) + 1
    assert max(s.out_bytes.values()) == 5_000_000 and s.total_bytes == pytest.approx(50_000_000, rel=1e-3)
    # Parents come first (topological order) and every edge of the instance is an input in the graph.
    seen = set()
    for job in inst.jobs:
        assert set(job.parents) <= seen
        seen.add(job.id)
    assert sum(len(_refs(g[j.id])) for j in inst.jobs) == sum(len(j.parents) for j in inst.jobs)


def test_recipes_below_their_minimum_grow_to_it_and_unknown_ones_are_named():
    assert wf.min_tasks("bwa") > 30
    assert len(wf.generate("bwa", 30, seed=1).jobs) >= wf.min_tasks("bwa") - 2  # WfCommons drops SRC/DST
    with pytest.raises(ValueError, match="unknown WfCommons recipe 'nope'"):
        wf.generate("nope", 50, seed=1)


def test_tasks_checksum_their_inputs_and_dask_computes_the_same():
    out = t.wf_task.fn(1, 0.001, 1000, [np.arange(10, dtype=np.uint8)])
    assert out.dtype == np.uint8 and out.size == 1000
    assert np.array_equal(out, t.wf_task.fn(1, 0.0, 1000, [np.arange(10, dtype=np.uint8)]))
    changed = np.arange(10, dtype=np.uint8)
    changed[9] = 0
    assert not np.array_equal(out, t.wf_task.fn(1, 0.0, 1000, [changed]))
    # The whole tiny graph, evaluated in order by hand and by Dask: the same digest.
    g = wf.build(tiny(), wf.scale(tiny(), cpu_s=0.01, total_bytes=4000, max_bytes=2000))
    values = {}
    for nid in toposort(g):
        node = g[nid]
        args = [[values[r.node_id] for r in a] if isinstance(a, list) else a for a in node.args]
        values[nid] = (t.wf_collect if nid == "collect" else t.wf_task).fn(*args)
    import dask

    dsk, key = workloads.dask_graph(g)
    assert dask.get(dsk, key) == values["collect"] and len(values["collect"]) == 16
    assert all(isinstance(r, Ref) for r in g["collect"].args[0])
