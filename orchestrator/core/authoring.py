"""The Python authoring API: ``@task`` functions build graphs lazily.

    @task
    def add(a, b): return a + b

    total = add(add(1, 2), 3)          # nothing runs: a lazy node
    graph = build_graph(total)          # plain data, ids like 'add-0'

An argument that is a lazy node (or a list/tuple/dict holding some) becomes an
edge; any other value is a constant. Decorated functions must live at module
level in an importable module so workers can import them by path.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from typing import Any, Callable, Iterator, TypedDict, Unpack, overload

from orchestrator.core import options as task_options, sinks
from orchestrator.core.graph import GraphError, Node, Ref, _post_order, validate


class GraphTooLarge(GraphError):
    """Building a graph created more tasks than the active ``node_budget`` allows."""


# [tasks still allowed, the limit] inside a node_budget block; None outside.
_budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("slaflow_node_budget", default=None)


@contextlib.contextmanager
def node_budget(max_nodes: int) -> Iterator[None]:
    """Raise GraphTooLarge as soon as more than ``max_nodes`` lazy nodes are created in this block.

    Servers build library graphs from client parameters; this stops a request
    like ``n=2**40`` early instead of letting it exhaust memory.
    """
    token = _budget.set([max_nodes, max_nodes])
    try:
        yield
    finally:
        _budget.reset(token)


class TaskFunction:
    """A decorated function: calling it returns a LazyNode, ``.fn`` runs it.

    ``path`` names the function workers import when it is not ``fn``'s own module and name: a task whose
    code lives in a higher layer than the code that builds its nodes (``orchestrator.core.commands``
    builds command nodes in the core; their function, the runner, is the runtime's)."""

    def __init__(
        self, fn: Callable, optimizations: tuple[str, ...] = (), *, path: str | None = None, **options: Any
    ) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.path = path or f"{fn.__module__}.{fn.__qualname__}"
        self.optimizations = tuple(optimizations)
        given = {k: v for k, v in options.items() if v is not None}
        if self.optimizations:
            given["optimizations"] = list(self.optimizations)
        try:
            self.options = task_options.check(given, f"@task {self.path}")
        except task_options.OptionError as exc:
            raise TypeError(str(exc)) from None
        if "<locals>" in fn.__qualname__:
            raise TypeError(f"@task function {self.path} must be defined at module level so workers can import it")

    def map(self, items: "LazyNode", *args: Any, **kwargs: Any) -> "LazyNode":
        """A dynamic fan-out: this function on every element of ``items``' output (a list), as one task per
        element decided at run time; ``args``/``kwargs`` are constants passed to each (``orchestrator.core.mapping``).
        Its downstream tasks get the list of results, in order."""
        if not isinstance(items, LazyNode):
            raise TypeError(
                f"{self.path}.map() maps over a task's output (the result of calling a @task "
                f"function), got {type(items).__name__}"
            )
        lazy = LazyNode(self, (items,) + args, kwargs)
        lazy.mapped = items
        return lazy

    def with_options(self, **options: Any) -> "TaskFunction":
        """The same function with other task options, e.g. ``fetch.with_options(retries=3)(url)``."""
        merged = {k: v for k, v in self.options.items() if k != "optimizations"}
        merged.update(options)
        optimizations = merged.pop("optimizations", self.optimizations)
        return TaskFunction(self.fn, tuple(optimizations), path=self.path, **merged)

    def __call__(self, *args: Any, **kwargs: Any) -> "LazyNode":
        budget = _budget.get()
        if budget is not None:
            budget[0] -= 1
            if budget[0] < 0:
                raise GraphTooLarge(f"the graph has more than {budget[1]} tasks (the limit for one submission)")
        return LazyNode(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<task {self.path}>"


class TaskOptions(TypedDict, total=False):
    """The keywords of ``task`` (its implementation below gives their defaults)."""

    optimizations: tuple[str, ...] | list[str]
    timeout_s: float | None
    retries: int | None
    retry_backoff_s: float | None
    retry_on: tuple | list | None
    streaming: bool | None


@overload
def task(fn: Callable, **options: Unpack[TaskOptions]) -> TaskFunction: ...


@overload
def task(fn: None = None, **options: Unpack[TaskOptions]) -> Callable[[Callable], TaskFunction]: ...


def task(
    fn: Callable | None = None,
    *,
    optimizations: tuple[str, ...] | list[str] = (),
    timeout_s: float | None = None,
    retries: int | None = None,
    retry_backoff_s: float | None = None,
    retry_on: tuple | list | None = None,
    streaming: bool | None = None,
) -> TaskFunction | Callable[[Callable], TaskFunction]:
    """Decorator. Keywords (``orchestrator.core.options``): ``optimizations`` the planner keeps, ``timeout_s``
    (the task is stopped after this long), ``retries`` / ``retry_backoff_s`` / ``retry_on`` (exception
    classes or names to retry on), ``streaming`` (a generator task's output arrives as an iterator over
    its items, while it runs)."""
    options: dict[str, Any] = dict(
        timeout_s=timeout_s, retries=retries, retry_backoff_s=retry_backoff_s, retry_on=retry_on, streaming=streaming
    )
    if fn is None:
        return lambda f: TaskFunction(f, tuple(optimizations), **options)
    return TaskFunction(fn, tuple(optimizations), **options)


class LazyNode:
    """One future call of a task function."""

    __slots__ = ("task", "args", "kwargs", "name", "label", "mapped")

    def __init__(self, task_fn: TaskFunction, args: tuple, kwargs: dict):
        self.task = task_fn
        self.args = args
        self.kwargs = kwargs
        self.name: str | None = None
        self.label: str | None = None  # what a generated id starts with, when not the function's name
        self.mapped: LazyNode | None = None  # ``fn.map(items)``: the node whose output it maps over

    def named(self, name: str) -> "LazyNode":
        """Give this node an explicit id instead of the generated ``<function>-<n>``."""
        self.name = name
        return self

    def __repr__(self) -> str:
        return f"<lazy {self.task.path}>"


def _lazy_children(value: Any) -> Iterator[LazyNode]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, LazyNode):
            yield item
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))


def _replace(value: Any, ids: dict[int, str]) -> Any:
    if isinstance(value, LazyNode):
        return Ref(ids[id(value)])
    if isinstance(value, list):
        return [_replace(v, ids) for v in value]
    if isinstance(value, tuple):
        return tuple(_replace(v, ids) for v in value)
    if isinstance(value, dict):
        return {k: _replace(v, ids) for k, v in value.items()}
    return value


def _collected(value):
    """A list or dict of lazy nodes as one lazy node that collects them (``orchestrator.core.sinks``)."""
    if isinstance(value, dict):
        if not value or not all(isinstance(k, str) and isinstance(v, LazyNode) for k, v in value.items()):
            raise TypeError("submit() takes a dict of task results with string keys")
        return TaskFunction(sinks.collect)(**value).named(sinks.RESULT)
    if isinstance(value, (list, tuple)):
        if not value or not all(isinstance(v, LazyNode) for v in value):
            raise TypeError("submit() takes a list of task results (calls of @task functions)")
        return TaskFunction(sinks.collect_list)(*value).named(sinks.RESULT)
    return value


def build_graph(sink: Any) -> dict[str, Node]:
    """The plain-data graph of everything ``sink`` depends on, validated. ``sink`` may be a list or a
    dict of nodes: the graph then ends in one that collects their values (``orchestrator.core.sinks``)."""
    sink = _collected(sink)
    if not isinstance(sink, LazyNode):
        raise TypeError(f"submit() needs the result of calling a @task function, got {type(sink).__name__}")
    # Collect every lazy node reachable from the sink, keyed by object identity.
    lazies: dict[int, LazyNode] = {}
    upstream: dict[int, list[int]] = {}
    stack = [sink]
    while stack:
        lazy = stack.pop()
        if id(lazy) in lazies:
            continue
        lazies[id(lazy)] = lazy
        ups = list(_lazy_children((lazy.args, lazy.kwargs)))
        upstream[id(lazy)] = list(dict.fromkeys(id(u) for u in ups))
        stack.extend(ups)
    # Number nodes per function in structural order so ids are stable across builds.
    proxy = {
        str(k): Node(str(k), lazies[k].task.path, upstream=tuple(str(u) for u in ups)) for k, ups in upstream.items()
    }
    order = _post_order(proxy, [str(id(sink))])
    counters: dict[str, int] = {}
    ids: dict[int, str] = {}
    for key in order:
        lazy = lazies[int(key)]
        if lazy.name:
            ids[int(key)] = lazy.name
            continue
        short = lazy.label or lazy.task.fn.__name__
        n = counters.get(short, 0)
        counters[short] = n + 1
        ids[int(key)] = f"{short}-{n}"
    if len(set(ids.values())) != len(ids):
        dupes = sorted({v for v in ids.values() if list(ids.values()).count(v) > 1})
        raise ValueError(f"two tasks share the id(s) {', '.join(dupes)}; give them distinct .named() ids")
    graph: dict[str, Node] = {}
    for key in order:
        lazy = lazies[int(key)]
        nid = ids[int(key)]
        options = dict(lazy.task.options)
        if lazy.mapped is not None:
            options["map"] = ids[id(lazy.mapped)]
        graph[nid] = Node(
            id=nid,
            function=lazy.task.path,
            args=tuple(_replace(a, ids) for a in lazy.args),
            kwargs={k: _replace(v, ids) for k, v in lazy.kwargs.items()},
            options=options,
        )
    validate(graph)
    return graph
