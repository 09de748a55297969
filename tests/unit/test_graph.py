"""The graph as plain data: orders, cycles, sinks, hashes, specs, authoring."""

import pytest

from orchestrator.core.authoring import build_graph, task
from orchestrator.core.graph import (
    CycleError,
    GraphError,
    MissingRefError,
    Node,
    Ref,
    SinkError,
    dependents,
    depth_levels,
    find_cycle,
    roots,
    sink,
    structure_hash,
    toposort,
    validate,
)
from orchestrator.core.spec import SpecError, check_constants, from_spec, inputs_hash, to_spec
from tests import taskfns
from workers import functions


def diamond(names=("a", "b", "c", "d")):
    """
        a
       / \\
      b   c
       \\ /
        d
    """
    a, b, c, d = names
    return {
        a: Node(a, "m.src", args=(1,)),
        b: Node(b, "m.left", args=(Ref(a),)),
        c: Node(c, "m.right", args=(Ref(a),)),
        d: Node(d, "m.join", args=([Ref(b), Ref(c)],)),
    }


def test_toposort_puts_producers_first_and_ignores_names():
    g = diamond()
    order = toposort(g)
    assert order.index("a") < order.index("b") < order.index("d")
    assert order.index("c") < order.index("d")
    # Same structure under reversed names: the same positions (no name-based tie-breaks).
    renamed = diamond(("z", "y", "x", "w"))
    assert [{"z": "a", "y": "b", "x": "c", "w": "d"}[n] for n in toposort(renamed)] == order


def test_roots_sink_dependents_and_levels():
    g = diamond()
    assert roots(g) == ["a"]
    assert sink(g) == "d"
    assert dependents(g)["a"] == ["b", "c"]
    assert depth_levels(g) == {"a": 0, "b": 1, "c": 1, "d": 2}
    assert g["d"].upstream == ("b", "c")


def test_cycle_is_named():
    g = {
        "a": Node("a", "m.f", args=(Ref("c"),)),
        "b": Node("b", "m.f", args=(Ref("a"),)),
        "c": Node("c", "m.f", args=(Ref("b"),)),
        "s": Node("s", "m.f", args=(Ref("c"),)),
    }
    cycle = find_cycle(g)
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    with pytest.raises(CycleError) as err:
        validate(g)
    assert "cycle" in str(err.value) and " -> " in str(err.value)
    with pytest.raises(CycleError):
        toposort(g)


def test_two_sinks_rejected_naming_both():
    g = {"a": Node("a", "m.f"), "b": Node("b", "m.f", args=(Ref("a"),)), "c": Node("c", "m.f", args=(Ref("a"),))}
    with pytest.raises(SinkError, match=r"2 sinks \(b, c\)"):
        validate(g)


def test_missing_ref_named():
    g = {"a": Node("a", "m.f"), "b": Node("b", "m.f", args=(Ref("ghost"),))}
    with pytest.raises(MissingRefError, match="'b' refers to a missing node 'ghost'"):
        validate(g)


def test_empty_graph_and_bad_ids():
    with pytest.raises(GraphError, match="no tasks"):
        validate({})
    with pytest.raises(GraphError, match="node id"):
        validate({"a b": Node("a b", "m.f")})


def test_structure_hash_ignores_values_and_ids_but_not_edges():
    g1 = diamond()
    g2 = diamond(("p", "q", "r", "s"))
    g3 = dict(g1, a=Node("a", "m.src", args=(999,)))
    assert structure_hash(g1) == structure_hash(g2) == structure_hash(g3)
    rewired = dict(g1, d=Node("d", "m.join", args=([Ref("b")],)), c=Node("c", "m.right", args=(Ref("b"),)))
    assert structure_hash(rewired) != structure_hash(g1)
    other_fn = dict(g1, b=Node("b", "m.other", args=(Ref("a"),)))
    assert structure_hash(other_fn) != structure_hash(g1)


def test_spec_round_trip():
    g = diamond()
    g["a"] = Node("a", "m.src", args=(1, (2, 3), {"k": [1.5, None]}), kwargs={"flag": True, "ref": "not-a-ref"})
    spec = to_spec(g, name="d")
    assert spec["name"] == "d"
    assert from_spec(spec) == g
    # Refs are {"ref": id} objects in JSON.
    d = next(n for n in spec["nodes"] if n["id"] == "d")
    assert d["args"] == [[{"ref": "b"}, {"ref": "c"}]]


def test_inputs_hash_sees_constants_but_not_the_name():
    g = diamond()
    same_shape = dict(g, a=Node("a", g["a"].function, args=(99,)))
    assert structure_hash(same_shape) == structure_hash(g)
    assert inputs_hash(to_spec(same_shape)) != inputs_hash(to_spec(g))
    assert inputs_hash(to_spec(g, name="x")) == inputs_hash(to_spec(g, name="y")) == inputs_hash(to_spec(g))


def test_spec_errors_name_the_problem():
    with pytest.raises(SpecError, match="non-empty 'nodes'"):
        from_spec({"nodes": []})
    with pytest.raises(SpecError, match="appears twice"):
        from_spec({"nodes": [{"id": "a", "function": "m.f"}, {"id": "a", "function": "m.f"}]})
    with pytest.raises(SpecError, match="unknown field"):
        from_spec({"nodes": [{"id": "a", "function": "m.f", "argz": []}]})
    with pytest.raises(SpecError, match="needs a 'function'"):
        from_spec({"nodes": [{"id": "a"}]})
    with pytest.raises(SpecError, match=r"args\[0\].*not JSON"):
        from_spec({"nodes": [{"id": "a", "function": "m.f", "args": [object()]}]})


def test_non_json_constant_is_rejected_naming_node():
    g = {"a": Node("a", "m.f", args=(object(),))}
    with pytest.raises(SpecError, match=r"node 'a' args\[0\].*object"):
        check_constants(g)


def test_unknown_functions_rejected_by_name():
    g = {"a": Node("a", "tests.taskfns.nope")}
    with pytest.raises(functions.UnknownFunctionError, match="tests.taskfns.nope"):
        functions.check_graph(g)
    with pytest.raises(functions.UnknownFunctionError, match="no_such_module"):
        functions.resolve("no_such_module.f")
    with pytest.raises(functions.DisallowedFunctionError, match="module 'os' is not a registered workflow module"):
        functions.check_graph({"a": Node("a", "os.getcwd")}, allowed_modules=functions.registered_modules())
    assert functions.resolve("tests.taskfns.inc") is taskfns.inc.fn


def test_authoring_builds_edges_and_stable_ids():
    s = taskfns.value(1)
    sink_node = taskfns.total([taskfns.inc(s), taskfns.inc(s), 5])
    g = build_graph(sink_node)
    assert set(g) == {"value-0", "inc-0", "inc-1", "total-0"}
    assert g["total-0"].upstream == ("inc-0", "inc-1")
    assert g["total-0"].args[0][2] == 5
    again = build_graph(taskfns.total([taskfns.inc(taskfns.value(1)), taskfns.inc(taskfns.value(1)), 5]))
    assert structure_hash(again) != structure_hash(g)  # two sources instead of one shared
    assert build_graph(taskfns.total([taskfns.inc(s), taskfns.inc(s), 5])).keys() == g.keys()


def test_task_must_be_module_level():
    with pytest.raises(TypeError, match="module level"):

        @task
        def local_fn(x):
            return x


def test_toposort_of_a_long_chain_is_iterative():
    n = 20000
    g = {f"n{i}": Node(f"n{i}", "m.f", args=(Ref(f"n{i - 1}"),) if i else ()) for i in range(n)}
    order = toposort(g)
    assert order[0] == "n0" and order[-1] == f"n{n - 1}"


def test_a_graph_with_several_sinks_ends_in_one_that_collects_their_values():
    from orchestrator.core import sinks
    from tests import taskfns as t

    g = {
        "a": Node("a", "m.f", args=(1,)),
        "b": Node("b", "m.g", args=(Ref("a"),)),
        "c": Node("c", "m.g", args=(Ref("a"),)),
    }
    joined = sinks.joined(g)
    assert set(joined) == {"a", "b", "c", "result"} and joined["result"].upstream == ("b", "c")
    assert joined["result"].function == "orchestrator.core.sinks.collect" and validate(joined) == "result"
    assert sinks.joined(joined) == joined and sinks.joined({"a": g["a"]}) == {"a": g["a"]}
    assert sinks.collect(**{"b": 1, "c-2": 2}) == {"b": 1, "c-2": 2} and sinks.collect_list(1, 2) == [1, 2]
    as_list = build_graph([t.inc(1), t.inc(2), t.value(3)])
    assert as_list["result"].function == "orchestrator.core.sinks.collect_list" and len(as_list["result"].upstream) == 3
    as_dict = build_graph({"x": t.inc(1), "y": t.value(2)})
    assert dict(as_dict["result"].kwargs).keys() == {"x", "y"}
    with pytest.raises(TypeError, match="a list of task results"):
        build_graph([t.inc(1), 5])


def test_a_mapped_node_round_trips_as_a_spec_and_maps_over_one_of_its_inputs_only():
    from orchestrator.core import mapping
    from tests import taskfns as t

    g = build_graph(t.gather(t.square.map(t.split_n(3), add=1)))
    assert g["square-0"].options_dict == {"map": "split_n-0"} and g["square-0"].upstream == ("split_n-0",)
    assert from_spec(to_spec(g)) == g
    short = from_spec(
        {
            "nodes": [
                {"id": "s", "function": "m.split", "args": [3]},
                {"id": "p", "function": "m.f", "map": {"ref": "s"}, "kwargs": {"k": 1}},
            ]
        }
    )
    assert short["p"].upstream == ("s",) and short["p"].options_dict == {"map": "s"} and short["p"].args[0] == Ref("s")
    assert from_spec(to_spec(short)) == short
    with pytest.raises(SpecError, match="'map' must be a ref"):
        from_spec({"nodes": [{"id": "p", "function": "m.f", "map": "s"}]})
    with pytest.raises(GraphError, match=r"mapped node 'p' takes task outputs only through 's', not 'x'"):
        validate(
            {
                "s": Node("s", "m.s", args=(1,)),
                "x": Node("x", "m.x", args=(1,)),
                "p": Node("p", "m.f", args=(Ref("s"), Ref("x")), options={"map": "s"}),
            }
        )
    assert mapping.split_id("p[12]") == ("p", 12) and mapping.split_id("p") == ("p", None)
    assert mapping.width_error("p", "s", {"a": 1}, 10) == "map 'p' needs a list from 's', got dict"
    with pytest.raises(TypeError, match=r"maps over a task's output"):
        t.square.map([1, 2])
