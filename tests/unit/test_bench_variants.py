"""``bench runtime --planner PLANNER+OPT``: a planner applying only the named optimizations."""

import pytest

from experiments.bench import runtime


def test_a_variant_names_its_planner_and_the_optimizations_it_applies():
    assert runtime.split_variant("wukong") == ("wukong", None)  # the planner's own
    assert runtime.split_variant("wukong+none") == ("wukong", [])  # none at all
    assert runtime.split_variant("uniform+preload+taskdup") == ("uniform", ["preload", "taskdup"])


def test_a_variant_with_an_unknown_planner_or_optimization_is_refused_by_name():
    runtime.check_variant("uniform+streaming")
    with pytest.raises(ValueError, match="'bogus'"):
        runtime.check_variant("uniform+bogus")
    with pytest.raises(ValueError):
        runtime.check_variant("nosuchplanner+preload")


def test_each_dask_run_has_keys_of_its_own_and_computes_the_same():
    """Dask distributed reused a previous repeat's results under the same keys: every run gets its own."""
    import dask

    from experiments.bench import workloads

    graph = workloads.WORKLOADS["tree"].graph(9)
    plain, key = workloads.dask_graph(graph)
    own, own_key = workloads.dask_graph(graph, suffix="~r1")
    assert own_key == key + "~r1" and all(k.endswith("~r1") for k in own) and len(own) == len(plain)
    assert dask.get(own, own_key) == dask.get(plain, key) == sum(range(9))
