"""Several sinks: a workflow may end in several tasks; its result maps each sink to its value.

The runtime, the planners and the timing model all reason about one end task,
so a graph with several sinks gets one more: ``collect``, which takes every
sink's output and returns ``{sink id: value}`` (``RESULT`` is its id). The run
ends when it does — once every sink is done. In the Python API, ``submit`` and
``build_graph`` take a list or a dict of nodes as well as one node: a list
gives a list of their values (``collect_list``), a dict a dict under its keys
(``authoring.build_graph`` adds that node). A single-sink workflow keeps its
plain result.
"""

from __future__ import annotations

from orchestrator.core.graph import Graph, Node, Ref, sinks

RESULT = "result"
FUNCTIONS = ("orchestrator.core.sinks.collect", "orchestrator.core.sinks.collect_list")


def collect(**values):
    """The result of a workflow with several sinks (or of ``submit({...})``): each under its name."""
    return dict(values)


def collect_list(*values):
    """The result of ``submit([a, b, ...])``: their values, in order."""
    return list(values)


def joined(graph: Graph) -> Graph:
    """``graph`` itself when it has at most one sink; else with ``collect`` after all of them."""
    ends = sinks(graph)
    if len(ends) < 2:
        return graph
    nid = RESULT
    while nid in graph:
        nid = f"_{nid}"
    out = dict(graph)
    out[nid] = Node(nid, FUNCTIONS[0], kwargs={s: Ref(s) for s in sorted(ends)})
    return out
