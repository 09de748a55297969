"""Dynamic fan-outs: a mapped task runs once per element of its upstream's output, decided at run time.

    parts = split(data)                  # returns a list
    done = process.map(parts, scale=2)   # process(element, scale=2) for every element
    total(done)                          # gets the list of results, in order

JSON spec: ``{"id": "p", "function": "m.process", "map": {"ref": "split"}, "kwargs": {"scale": 2}}``.

The mapped node ``p`` is one node of the graph (``options["map"]`` names the
upstream it maps over, which is also its first argument); the graph stays
static, and planners plan it as one task whose duration is one element's
(the elements run side by side). At run time the worker that produced the
list *expands* it: it records the width, and in the same counters' call that
records the upstream done it releases one task per element, ``p[0]`` …
``p[k-1]`` — flexible tasks on ``p``'s configuration, each given element ``i``
as its first argument — so their readiness is created atomically, and no
central loop is involved. ``p`` itself becomes the *gather*: ready when all
``k`` are done (its readiness counter needs ``k``), it collects their outputs
in order into the list its downstream tasks receive. An empty list releases
the gather at once (result ``[]``); a list longer than
``SLAFLOW_MAP_MAX_WIDTH`` fails the run, naming both numbers, and so does an
expansion that takes a run submitted with a task budget (``max_tasks``: a
user's, ``SLAFLOW_API_MAX_TASKS``) over it — the graph's tasks plus every
mapped element of the run, so many maps cannot add up past it. A mapped task
takes no other task outputs than the one it maps over (constants are fine):
``graph.validate`` checks both, as part of what makes a graph runnable.
"""

from __future__ import annotations

GATHER = "orchestrator.core.mapping.gather"  # the function recorded for a gather (it runs no user code)


def element_id(base: str, index: int) -> str:
    """``p[3]``: graph ids cannot hold brackets, so these never clash with a real node."""
    return f"{base}[{index}]"


def split_id(node_id: str) -> tuple[str, int | None]:
    """(``p``, 3) for ``p[3]``; (``p``, None) for a graph node."""
    if node_id.endswith("]") and "[" in node_id:
        base, _, rest = node_id.rpartition("[")
        return base, int(rest[:-1])
    return node_id, None


def gather(*values: object) -> list:
    return list(values)


def budget_error(node_id: str, graph_tasks: int, elements: int, limit: int | None) -> str | None:
    """Why expanding ``node_id`` takes the run over its task budget (the graph's tasks plus every
    mapped element released so far, this expansion's included), or None."""
    if limit is None or graph_tasks + elements <= limit:
        return None
    return (
        f"map {node_id!r}: the run would have {graph_tasks + elements} tasks ({graph_tasks} in its graph and "
        f"{elements} mapped elements), more than its budget of {limit} (SLAFLOW_API_MAX_TASKS)"
    )


def width_error(node_id: str, over: str, value: object, limit: int) -> str | None:
    """Why ``value`` (``over``'s output) cannot be mapped by ``node_id``, or None."""
    if not isinstance(value, (list, tuple)):
        return f"map {node_id!r} needs a list from {over!r}, got {type(value).__name__}"
    if len(value) > limit:
        return f"map {node_id!r} over {over!r}: {len(value)} elements, more than SLAFLOW_MAP_MAX_WIDTH ({limit})"
    return None
