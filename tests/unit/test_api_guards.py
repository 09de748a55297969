"""Pure guards the REST API relies on: task budgets, function origins, spec options, cache encoding."""

import json

import pytest

from orchestrator.cache import JSONSerializer
from orchestrator.core import authoring
from orchestrator.core.graph import Node
from orchestrator.core.spec import SpecError, from_spec
from slaflow.workflows import tree_reduction
from workers import functions


def test_node_budget_stops_a_huge_build_early():
    with authoring.node_budget(100):
        with pytest.raises(authoring.GraphTooLarge, match="more than 100 tasks"):
            tree_reduction.build(n=2**40)  # would never finish without the budget
    # The budget is scoped: outside the block the same code builds freely.
    assert len(authoring.build_graph(tree_reduction.build(n=256))) == 255


def test_node_budget_allows_exactly_the_limit():
    with authoring.node_budget(63):
        assert len(authoring.build_graph(tree_reduction.build(n=64))) == 63


def test_reexported_function_outside_allowed_modules_is_rejected():
    # tree_reduction imports `task` from orchestrator.core.authoring: the path is "inside" the library
    # module, the code is not.
    graph = {"a": Node("a", "slaflow.workflows.tree_reduction.task", args=(1,))}
    registered = functions.registered_modules()
    with pytest.raises(functions.DisallowedFunctionError, match="defined in 'orchestrator.core.authoring'"):
        functions.check_graph(graph, allowed_modules=registered)
    functions.check_graph(graph)  # the Python API (no allowed list) is unaffected
    ok = {"a": Node("a", "slaflow.workflows.tree_reduction.add", args=(1, 2))}
    functions.check_graph(ok, allowed_modules=registered)


def test_malformed_tagged_options_are_a_spec_error():
    spec = {"nodes": [{"id": "a", "function": "tests.taskfns.inc", "args": [1], "options": {"__sf__": "tuple"}}]}
    with pytest.raises(SpecError, match="node 'a': malformed 'options'"):
        from_spec(spec)


def test_cache_serializer_never_pickles():
    s = JSONSerializer()
    history = [1712.5, 1711.25]
    raw = s.dumps(history)
    assert json.loads(raw) == history and not raw.startswith(b"\x80")  # pickle's protocol marker
    assert s.loads(raw) == history
    assert s.dumps(7) == 7 and s.loads(b"7") == 7  # raw integers keep incr() atomic
