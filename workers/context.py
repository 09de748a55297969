"""What a pool process knows about a run, and whether it is warm for it.

A process keeps a run's graph, plan and resolved functions after the first
branch of the run it serves. Warmth is per workflow (structure hash): a branch
that lands on a process that is new, or that has not served this workflow
within the keep-alive window, starts cold — it re-resolves code and reopens
connections — and is recorded so.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from django.conf import settings

from orchestrator.core import coderefs as pushed_refs, mapping, spec as spec_mod, startup
from orchestrator.core.graph import Node, dependents as graph_dependents
from orchestrator.core.options import TaskOptions
from store import keys
from store.redis_client import get_redis, reset as reset_redis
from workers import functions


class RunGone(RuntimeError):
    """The run's metadata is no longer in Redis (finished and cleaned up, or expired)."""


@dataclass
class RunContext:
    run_id: int
    structure_hash: str
    started_at: float
    sink: str
    graph: dict[str, Node]
    plan: dict[str, dict]  # node → {"m": memory_mb, "w": worker|None, "u": upload, "a": annotations, "s", "e", "n"}
    downstream: dict[str, list[str]]
    default_memory_mb: int
    fns: dict[str, Callable] = field(default_factory=dict)
    timeout_s: float | None = None  # the run's default task time limit (else SLAFLOW_TASK_TIMEOUT_S)
    trace: dict | None = None  # the run span's trace context when tracing is on (``workers.tracing``)
    max_tasks: int | None = None  # the most tasks the run may expand to, mapped elements counted (``mapping``)
    rescue: bool = False  # a rescue may re-plan tasks not started yet (``planning.rescue``): see ``refresh_rescue``
    # Bodies of this run hold a core of their host (``store.cores``): SLAFLOW_EXECUTORS_WITHIN_CORES as submitted.
    within_cores: bool = True

    widths: dict[str, int] = field(default_factory=dict)  # mapped node → its width, once known (``mapping``)
    # Asked several times per task on the hot path: made once per node (a run's context lives per process).
    _elements: dict[str, Node] = field(default_factory=dict, repr=False)
    _options: dict[str, TaskOptions] = field(default_factory=dict, repr=False)
    _commands: bool | None = field(default=None, repr=False)
    _pushed: list[str] | None = field(default=None, repr=False)  # functions of pushed code (``load_code``)
    _rescued: dict[str, int] = field(default_factory=dict, repr=False)
    _remaining: dict[str, float] | None = field(default=None, repr=False)

    # An element task of a mapped node (``p[3]``, ``orchestrator.core.mapping``) is no node of the graph: it
    # is its mapped node's function and options on one element, flexible on its configuration.

    def node(self, node_id: str) -> Node:
        got = self.graph.get(node_id)
        if got is not None:
            return got
        got = self._elements.get(node_id)
        if got is None:
            m = self.graph[mapping.split_id(node_id)[0]]
            got = self._elements[node_id] = Node(
                node_id,
                m.function,
                args=m.args,
                kwargs=m.kwargs,
                upstream=m.upstream,
                options={k: v for k, v in m.options_dict.items() if k != "map"},
            )
        return got

    def runs_commands(self) -> bool:
        """Whether a task of this run runs a program (``orchestrator.executables``)."""
        if self._commands is None:
            from orchestrator.executables import FUNCTION

            self._commands = any(n.function == FUNCTION for n in self.graph.values())
        return self._commands

    def children(self, node_id: str) -> list[str]:
        base, index = mapping.split_id(node_id)
        return [base] if index is not None else self.downstream[node_id]

    def mapped_over(self, node_id: str) -> str | None:
        """The upstream a mapped node maps over (None for other nodes and for element tasks)."""
        node = self.graph.get(node_id)
        return node.options_dict.get("map") if node is not None else None

    def width(self, node_id: str) -> int:
        """A mapped node's width (how many element tasks its gather waits for), as its expansion stored it."""
        if node_id not in self.widths:
            raw = get_redis().hget(keys.map_widths(self.run_id), node_id)
            if raw is None:
                raise RuntimeError(f"run {self.run_id}: the width of mapped node {node_id!r} is not known yet")
            self.widths[node_id] = int(raw)
        return self.widths[node_id]

    def _entry(self, node_id: str) -> dict:
        return self.plan.get(mapping.split_id(node_id)[0], {})

    def refresh_rescue(self) -> None:
        """Read which tasks a rescue re-planned (a run with rescue on only; one Redis read, before each
        task runs): every decision about this task's children — their configuration, whether they are
        flexible, whether its output travels — then comes from the same snapshot."""
        if self.rescue:
            raw = get_redis().hgetall(keys.rescued(self.run_id))
            self._rescued = {k.decode(): int(v) for k, v in raw.items()}

    def is_rescued(self, node_id: str) -> bool:
        return bool(self._rescued) and mapping.split_id(node_id)[0] in self._rescued

    def memory_of(self, node_id: str) -> int:
        if self._rescued:
            got = self._rescued.get(mapping.split_id(node_id)[0])
            if got:
                return got
        return int(self._entry(node_id).get("m") or self.default_memory_mb)

    def worker_of(self, node_id: str) -> str | None:
        if mapping.split_id(node_id)[1] is not None:
            return None  # element tasks are flexible: as many run side by side as the pool allows
        if self._rescued and node_id in self._rescued:
            return None  # re-planned: flexible, on its new configuration
        return self.plan.get(node_id, {}).get("w")

    def uploads(self, node_id: str) -> bool:
        """The plan's upload decision (``planning.uploads``); a plan without one uploads — and so does a task
        a child of which a rescue re-planned (it runs elsewhere now)."""
        if self._rescued and any(c in self._rescued for c in self.downstream.get(mapping.split_id(node_id)[0], ())):
            return True
        return bool(self._entry(node_id).get("u", 1))

    def new_branch(self, node_id: str) -> bool:
        return bool(self.plan.get(node_id, {}).get("n"))

    def inputs_of(self, node_id: str) -> int:
        if self.mapped_over(node_id) is not None:
            return self.width(node_id)  # a gather waits for its element tasks
        return len(self.node(node_id).upstream)

    def annotations_of(self, node_id: str) -> dict[str, Any]:
        return self.plan.get(node_id, {}).get("a") or {}

    def planned(self, node_id: str, key: str) -> float | None:
        return self._entry(node_id).get(key)

    def remaining_s(self, node_id: str) -> float:
        """The longest planned path from this task's start to the run's end (its bottom level, with each
        task's planned ``e`` − ``s``; 0 for tasks the plan gives no times): a body waiting for a core
        with more of it goes first (``store.cores``). Made once per run context."""
        if self._remaining is None:
            dur = {
                n: max(0.0, float(e.get("e", 0.0) or 0.0) - float(e.get("s", 0.0) or 0.0)) for n, e in self.plan.items()
            }
            level: dict[str, float] = {}
            for root in self.graph:
                stack = [(root, False)]
                while stack:
                    nid, done = stack.pop()
                    if nid in level:
                        continue
                    kids = self.downstream.get(nid, ())
                    if done:
                        level[nid] = dur.get(nid, 0.0) + max((level[k] for k in kids), default=0.0)
                        continue
                    stack.append((nid, True))
                    stack.extend((k, False) for k in kids if k not in level)
            self._remaining = level
        return self._remaining.get(mapping.split_id(node_id)[0], 0.0)

    def task_options(self, node_id: str) -> TaskOptions:
        got = self._options.get(node_id)
        if got is None:
            got = self._options[node_id] = TaskOptions.of(
                self.node(node_id).options_dict, self.timeout_s or getattr(settings, "SLAFLOW_TASK_TIMEOUT_S", None)
            )
        return got

    def function(self, node_id: str) -> Callable:
        path = self.node(node_id).function
        if path not in self.fns:
            self.fns[path] = functions.resolve(path)
        return self.fns[path]

    def load_code(self) -> float:
        """Fetch and import the run's pushed code now (``workers.codeloader``), before its first task:
        the seconds it took (0 when this process has it already). Part of the branch's start-up. A function
        that fails to load is left for its task, which fails naming the error."""
        if self._pushed is None:  # once per context: the hot path of graphs without pushed code stays a check
            self._pushed = sorted({n.function for n in self.graph.values() if pushed_refs.is_ref(n.function)})
        if not self._pushed:
            return 0.0
        t0 = time.perf_counter()
        for path in self._pushed:
            if path not in self.fns:
                try:
                    self.fns[path] = functions.resolve(path)
                except Exception:  # noqa: BLE001 — reported by the task that needs it
                    pass
        return time.perf_counter() - t0


def build_meta(
    *,
    run_id: int,
    structure_hash: str,
    inputs_hash: str,
    started_at: float,
    sink: str,
    plan: dict,
    default_memory_mb: int,
    timeout_s: float | None = None,
    trace: dict | None = None,
    max_tasks: int | None = None,
    rescue: bool = False,
    within_cores: bool | None = None,
) -> bytes:
    return json.dumps(
        {
            "run_id": run_id,
            "hash": structure_hash,
            "inputs": inputs_hash,
            "started_at": started_at,
            "sink": sink,
            "plan": plan,
            "default_memory_mb": default_memory_mb,
            "timeout_s": timeout_s,
            "trace": trace,
            "max_tasks": max_tasks,
            "rescue": bool(rescue),
            "within_cores": bool(settings.SLAFLOW_EXECUTORS_WITHIN_CORES if within_cores is None else within_cores),
        }
    ).encode()


def build_spec(graph, spec: dict) -> bytes:
    """The graph as workers read it: the spec and, per node, its upstream and downstream ids."""
    return json.dumps(
        {"spec": spec, "up": {nid: list(node.upstream) for nid, node in graph.items()}, "down": graph_dependents(graph)}
    ).encode()


def put_meta(run_id: int, meta: bytes, spec: bytes) -> None:
    pipe = get_redis().pipeline(transaction=False)
    pipe.set(keys.meta(run_id), meta, ex=int(settings.SLAFLOW_RUN_TTL_S))
    pipe.set(keys.spec(run_id), spec, ex=int(settings.SLAFLOW_RUN_TTL_S))
    pipe.execute()


# Parsed graphs by inputs hash: repeated runs of one spec (the usual case) parse it once per process.
_GRAPHS_KEPT = 8
_graphs: dict[str, tuple[dict[str, Node], dict[str, list[str]]]] = {}


def _graph_of(run_id: int, inputs: str) -> tuple[dict[str, Node], dict[str, list[str]]]:
    got = _graphs.get(inputs)
    if got is None:
        raw = get_redis().get(keys.spec(run_id))
        if raw is None:
            raise RunGone(f"run {run_id} has no graph in Redis (finished or expired)")
        data = json.loads(raw)
        got = (spec_mod.from_trusted_spec(data["spec"], data["up"]), data["down"])
        _graphs[inputs] = got
        while len(_graphs) > _GRAPHS_KEPT:
            del _graphs[next(iter(_graphs))]
    return got


def _load(run_id: int) -> RunContext:
    raw = get_redis().get(keys.meta(run_id))
    if raw is None:
        raise RunGone(f"run {run_id} has no metadata in Redis (finished or expired)")
    data = json.loads(raw)
    graph, downstream = _graph_of(run_id, data["inputs"])
    return RunContext(
        run_id=run_id,
        structure_hash=data["hash"],
        started_at=float(data["started_at"]),
        sink=data["sink"],
        graph=graph,
        plan=data["plan"],
        downstream=downstream,
        default_memory_mb=int(data["default_memory_mb"]),
        timeout_s=data.get("timeout_s"),
        trace=data.get("trace"),
        max_tasks=data.get("max_tasks"),
        rescue=bool(data.get("rescue")),
        within_cores=bool(data.get("within_cores", True)),
    )


class ProcessState:
    """Per-process caches; reset in each new pool process (worker_process_init)."""

    def __init__(self):
        self.pid = os.getpid()
        self.born = time.monotonic()
        self.branches_served = 0
        self.last_served: dict[str, float] = {}  # structure hash → monotonic time
        self.runs: dict[int, RunContext] = {}
        self.prewarmed: dict[str, float] = {}  # structure hash → monotonic time of a pre-warm ping
        # A Lambda execution environment (workers.lambda_handler) is kept or dropped by Lambda, not by the
        # keep-alive window: one that was reused is warm however long it sat idle.
        self.reused_environment = False

    def begin(self, run_id: int) -> tuple[RunContext, bool, str]:
        """The run's context, and whether this branch starts cold (with the reason)."""
        now = time.monotonic()
        window = float("inf") if self.reused_environment else float(settings.SLAFLOW_KEEPALIVE_S)
        ctx = self.runs.get(run_id)
        if ctx is None:
            ctx = _load(run_id)
        last = max(self.last_served.get(ctx.structure_hash, -1e18), self.prewarmed.get(ctx.structure_hash, -1e18))
        if self.branches_served == 0 and ctx.structure_hash not in self.prewarmed:
            cold, reason = True, startup.NEW_PROCESS
        elif now - last > window:
            cold, reason = True, (startup.FIRST_TIME if last < -1e17 else startup.IDLE)
        else:
            cold, reason = (
                False,
                (
                    startup.PREWARMED
                    if self.prewarmed.get(ctx.structure_hash, -1e18) >= self.last_served.get(ctx.structure_hash, -1e18)
                    else startup.REUSED
                ),
            )
        if cold:
            # A cold start really redoes the set-up work: connections, the run's graph, code lookup.
            reset_redis()
            _graphs.clear()
            ctx = _load(run_id)
        self.runs[run_id] = ctx
        self.branches_served += 1
        self.last_served[ctx.structure_hash] = now
        self._forget_old_runs()
        return ctx, cold, reason

    def prepare(self, run_id: int) -> RunContext:
        """A pre-warm ping: load the run's context and its code now (imports included), without
        counting a branch, so that the branch that comes next starts warm."""
        ctx = self.runs.get(run_id) or _load(run_id)
        self.runs[run_id] = ctx
        for nid in ctx.graph:
            ctx.function(nid)
        self.warm_up(ctx.structure_hash)
        return ctx

    def touch(self, structure_hash: str) -> None:
        self.last_served[structure_hash] = time.monotonic()

    def warm_up(self, structure_hash: str) -> None:
        self.prewarmed[structure_hash] = time.monotonic()

    def _forget_old_runs(self, keep: int = 32) -> None:
        if len(self.runs) > keep:
            for run_id in sorted(self.runs)[:-keep]:
                del self.runs[run_id]


_state: ProcessState | None = None


def process_state() -> ProcessState:
    global _state
    if _state is None or _state.pid != os.getpid():
        _state = ProcessState()
    return _state


def reset_process_state() -> None:
    global _state
    _state = ProcessState()
    _graphs.clear()
