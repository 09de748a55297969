"""The workflow library, evaluated in-process by a tiny sequential evaluator (no workers)."""

import inspect
import sys

import numpy as np
import pytest

from orchestrator.core import codec
from orchestrator.core.authoring import build_graph
from orchestrator.core.graph import roots, sink, substitute, toposort, validate
from slaflow import workflows
from workers.functions import check_graph, resolve

# Task counts at the default parameters, as each module's docstring documents them.
TASK_COUNTS = {
    "diamond": 4,
    "fanouts_fanins": 52,
    "fixed_times": 22,
    "gemm": 25,
    "image_transformer": 130,
    "text_analysis": 59,
    "tree_reduction": 63,
    "wordcount": 48,
    "straggler": 8,
    "scattered_fanin": 6,
    "cold_stage": 12,
    "big_fanout": 10,
    "big_transfer": 5,
    "stream_pipeline": 5,
    "unix_words": 6,
    "sensor_report": 5,
    "dynamic_chunks": 3,
    "chain_and_stage": 24,
}

# Evaluated in-process at the defaults but without their sleeps (the same graph shape).
NO_WAIT = {
    "straggler": {"work_s": 0.0, "straggle_s": 0.0},
    "scattered_fanin": {"work_s": 0.0, "stagger_s": 0.0},
    "cold_stage": {"step_s": 0.0, "work_s": 0.0},
    "big_fanout": {"side_s": 0.0},
    "big_transfer": {"work_s": 0.0, "consume_s": 0.0},
    "stream_pipeline": {"frame_s": 0.0, "work_s": 0.0},
    "fixed_times": {"seconds": 0.0},  # 20 sleeps of 0.2 s, one after another in-process
}

# Smaller, non-default parameters each workflow must also get right.
SMALL = {
    "diamond": {"x": 4},
    "fanouts_fanins": {"width": 3, "stages": 2, "seed": 9},
    "fixed_times": {"chains": 2, "length": 2, "seconds": 0.0},
    "gemm": {"n": 96, "block": 32, "seed": 1},
    "image_transformer": {"size": 48, "grid": 2, "seed": 8},
    "text_analysis": {"chunks": 8, "chapters": 2, "words": 300, "vocab": 400},
    "tree_reduction": {"n": 8},
    "wordcount": {"chunks": 4, "words": 300, "top": 3},
    "straggler": {"width": 3, "size_mb": 1, "work_s": 0.0, "straggle_s": 0.0, "slow": 2},
    "scattered_fanin": {"width": 2, "size_mb": 1, "work_s": 0.0, "stagger_s": 0.0, "seed": 4},
    "cold_stage": {"length": 1, "step_s": 0.0, "width": 2, "work_s": 0.0, "seed": 2},
    "big_fanout": {"width": 2, "size_mb": 1, "side_s": 0.0, "seed": 3},
    "big_transfer": {"size_mb": 1, "work_s": 0.0, "consume_s": 0.0, "seed": 2},
    "stream_pipeline": {"frames": 3, "size_kb": 8, "frame_s": 0.0, "work_s": 0.0, "streaming": 0, "seed": 2},
    "unix_words": {"words": 30, "vocab": 4, "chunks": 3, "top": 2, "seed": 1},
    "sensor_report": {"n": 7, "top": 2, "bins": 2, "seed": 1},
    "dynamic_chunks": {"n": 10, "chunk": 3, "work": 0},
    "chain_and_stage": {"length": 2, "link_work": 100, "width": 3, "stage_work": 50},
}


def evaluate(graph):
    """Run every node in topological order; outputs round-trip through the codec as on workers."""
    outputs = {}
    for nid in toposort(graph):
        node = graph[nid]
        fn = resolve(node.function)
        over = node.options_dict.get("map")
        if over is not None:  # a dynamic map: the function on every element, as the workers expand it
            value = [
                fn(*substitute(node.args, {**outputs, over: item}), **substitute(node.kwargs_dict, outputs))
                for item in outputs[over]
            ]
        else:
            value = fn(*substitute(node.args, outputs), **substitute(node.kwargs_dict, outputs))
        if inspect.isgenerator(value):  # a generator task's output is the list of its items, as on workers
            value = list(value)
        outputs[nid] = codec.loads(codec.dumps(value, where=f"output of {nid}"))
    return outputs[sink(graph)]


def corrupt(value):
    """A slightly wrong copy of a result (first number bumped, first string changed)."""
    if isinstance(value, np.ndarray):
        wrong = value.astype(float).copy()
        wrong.flat[0] += 1.0
        return wrong
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, (list, tuple)):
        return type(value)([corrupt(value[0]), *value[1:]]) if value else type(value)([0])
    if isinstance(value, dict):
        key = next(iter(value))
        return {**value, key: corrupt(value[key])}
    raise TypeError(type(value))


def test_every_module_registers_a_workflow():
    assert set(workflows.all_workflows()) == set(workflows.MODULES) == set(TASK_COUNTS)


@pytest.fixture(scope="module", params=sorted(TASK_COUNTS))
def evaluated(request):
    wf = workflows.get(request.param)
    graph = build_graph(wf.build(**wf.params))
    quick = dict(wf.params, **NO_WAIT.get(wf.name, {}))
    return wf, graph, evaluate(build_graph(wf.build(**quick)))


def test_default_graph_has_documented_shape(evaluated):
    wf, graph, _ = evaluated
    assert len(graph) == TASK_COUNTS[wf.name]
    assert validate(graph) == sink(graph)
    check_graph(graph, allowed_modules=workflows.task_modules())  # the library names only its own modules
    assert roots(graph)
    if wf.name not in ("diamond", "tree_reduction"):  # the two original examples predate this rule
        doc = sys.modules[wf.build.__module__].__doc__
        assert f"= {TASK_COUNTS[wf.name]}" in doc, f"{wf.name}'s docstring should state its task count"


def test_default_result_checks_out(evaluated):
    wf, _, result = evaluated
    assert wf.check(result, **wf.params) is True


def test_wrong_result_fails_the_check(evaluated):
    wf, _, result = evaluated
    assert wf.check(corrupt(result), **wf.params) is False


def test_nonsense_result_fails_the_check(evaluated):
    wf, _, _ = evaluated
    assert not wf.check(None, **wf.params)


def test_graph_is_deterministic(evaluated):
    wf, graph, _ = evaluated
    again = build_graph(wf.build(**wf.params))
    assert again == graph


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_params_check_out(name):
    wf = workflows.get(name)
    params = wf.coerce({k: str(v) for k, v in SMALL[name].items()})  # as strings, like the CLI
    result = evaluate(build_graph(wf.build(**params)))
    assert wf.check(result, **params) is True
    assert wf.check(corrupt(result), **params) is False


def test_params_change_the_result():
    wf = workflows.get("gemm")
    a = evaluate(build_graph(wf.build(n=64, block=32, seed=1)))
    assert wf.check(a, n=64, block=32, seed=1) and not wf.check(a, n=64, block=32, seed=2)


def test_task_counts_follow_params():
    def count(name, **params):
        return len(build_graph(workflows.get(name).build(**params)))

    assert count("gemm", n=96, block=32) == 3 + 3 + 9 + 1
    assert count("fanouts_fanins", width=5, stages=4) == 1 + 4 * 6
    assert count("fixed_times", chains=3, length=7, seconds=0.0) == 3 * 7 + 2
    assert count("image_transformer", size=64, grid=2) == 1 + 4 * 8 + 1
    assert count("wordcount", chunks=8) == 8 + 8 + 7 + 1
    assert count("text_analysis", chunks=8, chapters=2) == 2 + 8 + 1 + 4 + 1 + 4 + 1


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("gemm", {"n": 500, "block": 128}, "multiple of block"),
        ("image_transformer", {"size": 250, "grid": 4}, "divisible by grid"),
        ("wordcount", {"chunks": 12}, "power of two"),
        ("text_analysis", {"chunks": 30, "chapters": 4}, "divisible by chapters"),
        ("fanouts_fanins", {"width": 0}, "width and stages"),
        ("fixed_times", {"seconds": -1.0}, "seconds"),
        ("straggler", {"slow": 6}, "slow < width"),
        ("scattered_fanin", {"width": 1}, "width ≥ 2"),
        ("cold_stage", {"step_s": -1.0}, "step_s"),
        ("chain_and_stage", {"width": 0}, "length, width"),
    ],
)
def test_bad_params_are_rejected_by_build(name, params, message):
    wf = workflows.get(name)
    with pytest.raises(ValueError, match=message):
        wf.build(**wf.coerce(params))


def test_coerce_converts_cli_strings():
    wf = workflows.get("fixed_times")
    assert wf.coerce({"chains": "2", "seconds": "0.5"}) == {"chains": 2, "length": 5, "seconds": 0.5}
    assert workflows.get("gemm").coerce({"n": 256.0})["n"] == 256


def test_coerce_names_an_unknown_parameter():
    with pytest.raises(ValueError, match=r"gemm has no parameter 'size' \(parameters: block, n, seed\)"):
        workflows.get("gemm").coerce({"size": "3"})


@pytest.mark.parametrize(
    "name, key, value",
    [
        ("gemm", "n", "big"),
        ("gemm", "block", 1.5),
        ("fixed_times", "seconds", "soon"),
        ("wordcount", "chunks", True),
    ],
)
def test_coerce_names_a_badly_typed_parameter(name, key, value):
    with pytest.raises(ValueError, match=rf"{name} parameter '{key}' must be"):
        workflows.get(name).coerce({key: value})


def test_every_default_is_a_simple_type():
    for wf in workflows.all_workflows().values():
        for key, value in wf.params.items():
            assert type(value) in (int, float, bool, str), (wf.name, key)


def test_unknown_workflow_lists_the_library():
    with pytest.raises(KeyError, match="unknown workflow 'nope'.*gemm"):
        workflows.get("nope")


def test_every_numeric_parameter_has_a_bound_its_default_keeps():
    """Sizes and durations come from users (issue 23, row 10): each one is declared bounded."""
    for wf in workflows.all_workflows().values():
        numeric = {k for k, v in wf.params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        assert numeric <= set(wf.bounds), (wf.name, sorted(numeric - set(wf.bounds)))
        assert set(wf.bounds) <= set(wf.params), wf.name
        assert all(wf.params[k] <= wf.bounds[k] for k in numeric), wf.name


@pytest.mark.parametrize(
    "name, key, value, bound",
    [
        ("big_transfer", "size_mb", 100_000, "256"),
        ("fixed_times", "seconds", "3600", "60.0"),
        ("tree_reduction", "n", 2**40, "65536"),
        ("image_transformer", "size", 1e9, "4096"),
    ],
)
def test_a_parameter_over_its_bound_is_refused_naming_it_and_the_bound(name, key, value, bound):
    with pytest.raises(ValueError, match=rf"{name} parameter '{key}' is .*, more than its bound of {bound}"):
        workflows.get(name).coerce({key: value})
    wf = workflows.get(name)
    assert wf.coerce({key: wf.bounds[key]})[key] == wf.bounds[key]  # the bound itself is allowed
