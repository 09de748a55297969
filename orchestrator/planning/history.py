"""Prediction history as plain data: bounded samples per function × configuration.

The service layer fills a ``History`` from TaskRun / WorkerStartup rows; the
predictor reads it. Every collection is a ``deque`` with a maximum length, so
however many runs a workflow has had, the predictor never holds more than
``cap`` samples per key and planning cost stays flat.

Keys:

* task samples per (function, memory_mb): input bytes, exec time (the task's
  time on its worker apart from transfers), the CPU it used (under an
  enforced quota), output bytes and the post-task overhead (dependency
  counters + dispatching children);
* transfer samples per memory_mb and output-store tier: downloads of inputs
  from Redis, uploads of outputs to Redis, the sink's result store (a
  database write); for outputs of at least ``shm_min_bytes`` (0: no such
  tier), writes into the host's shared memory (``shm_writes``), maps of them
  by readers on the same host (``maps``) and fetches from another host
  (``fetches``) — ``store.tiers``;
* start-up samples per (memory_mb, kind): requested → first task began, with
  time spent waiting for a busy pool process taken out (the simulation models
  that wait itself), and the part of it inside the billed activity period.
  Kinds (``orchestrator.core.startup.KINDS``): ``warm`` — a process that served this workflow
  within the keep-alive window; ``cold`` — an existing process that has not
  (it reloads the run and reconnects); ``new`` — a process the pool had to
  spawn first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Hashable, Iterable

from orchestrator.core import startup

DEFAULT_CAP = 100
TIER_TABLES = ("shm_writes", "maps", "fetches")


@dataclass(frozen=True)
class TaskSample:
    input_bytes: int
    exec_s: float
    output_bytes: int
    post_s: float = 0.0
    run: int = 0
    # CPU seconds the task used, when its process ran under its configuration's CPU quota; None when
    # unknown or unenforced (the predictor then scales across configurations with the prior rule).
    cpu_s: float | None = None


@dataclass(frozen=True)
class TransferSample:
    nbytes: int
    seconds: float


@dataclass(frozen=True)
class StartupSample:
    startup_s: float  # branch requested → first task began, pool waits excluded
    billed_s: float = 0.0  # picked up by a process → first task began (inside active time)
    run: int = 0


@dataclass
class History:
    cap: int = DEFAULT_CAP
    tasks: dict[tuple[str, int], deque] = field(default_factory=dict)
    downloads: dict[int, deque] = field(default_factory=dict)
    uploads: dict[int, deque] = field(default_factory=dict)
    stores: dict[int, deque] = field(default_factory=dict)
    shm_writes: dict[int, deque] = field(default_factory=dict)
    maps: dict[int, deque] = field(default_factory=dict)
    fetches: dict[int, deque] = field(default_factory=dict)
    # Outputs this large leave their branch through the hosts' shared memory (SLAFLOW_SHM_MIN_BYTES; 0: none
    # do), and how many hosts the workers span (a consumer on another host fetches, on the same one maps).
    shm_min_bytes: int = 0
    hosts: int = 1
    # Of the past reads of shared-memory outputs, the share made on the output's own host (mapped, not
    # fetched); None when none was seen. Only read when the workers span several hosts.
    local_reads: float | None = None
    startups: dict[tuple[int, str], deque] = field(default_factory=dict)
    # How slow each recent run was as a whole (its tasks' busy time over the median run's):
    # noise shared by all tasks of a run, which Monte Carlo replays together.
    run_factors: dict[int, float] = field(default_factory=dict)
    # How much longer tasks take in the first branch of a newly spawned pool process than their
    # usual time (a forked process first pays copy-on-write page faults and cold caches); 1.0 unknown.
    fresh_factor: float = 1.0
    # Share of pre-warm pings whose target started warm (past runs'), PreWarm's measured hit rate.
    prewarm_hit_rate: float = 0.8
    # Dynamic fan-outs: each mapped node's width in the latest run, and how many of its element tasks
    # run side by side (the flexible executors per configuration): its time is that many rounds of one.
    map_widths: dict[str, int] = field(default_factory=dict)
    map_executors: int = 8

    def map_rounds(self, node_id: str) -> int:
        """How many element tasks of ``node_id`` run one after another (1 for a node that maps nothing)."""
        width = self.map_widths.get(node_id)
        return max(1, -(-int(width) // max(1, self.map_executors))) if width else 1

    def __post_init__(self):
        if not isinstance(self.cap, int) or self.cap < 1:
            raise ValueError(f"History cap must be a positive whole number, got {self.cap!r}")

    def _bucket(self, table: dict, key: Hashable) -> deque:
        bucket = table.get(key)
        if bucket is None:
            bucket = table[key] = deque(maxlen=self.cap)
        return bucket

    # Samples are added oldest first; a full bucket drops its oldest sample.
    def add_task(self, function: str, memory_mb: int, sample: TaskSample) -> None:
        self._bucket(self.tasks, (function, int(memory_mb))).append(sample)

    def add_download(self, memory_mb: int, sample: TransferSample) -> None:
        self._bucket(self.downloads, int(memory_mb)).append(sample)

    def add_upload(self, memory_mb: int, sample: TransferSample) -> None:
        self._bucket(self.uploads, int(memory_mb)).append(sample)

    def add_store(self, memory_mb: int, sample: TransferSample) -> None:
        self._bucket(self.stores, int(memory_mb)).append(sample)

    def add_tiered(self, table: str, memory_mb: int, sample: TransferSample) -> None:
        """A transfer through the shared-memory tier: ``table`` is shm_writes, maps or fetches."""
        if table not in TIER_TABLES:
            raise ValueError(f"tier table must be one of {', '.join(TIER_TABLES)}, got {table!r}")
        self._bucket(getattr(self, table), int(memory_mb)).append(sample)

    def add_startup(self, memory_mb: int, kind: str, sample: StartupSample) -> None:
        if kind not in startup.KINDS:
            raise ValueError(f"start-up kind must be one of {', '.join(startup.KINDS)}, got {kind!r}")
        self._bucket(self.startups, (int(memory_mb), kind)).append(sample)

    # --- reading ------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        return not any(self.tasks.values())

    def functions(self) -> set[str]:
        return {fn for (fn, _), bucket in self.tasks.items() if bucket}

    def task_samples(self, function: str) -> dict[int, list[TaskSample]]:
        """memory_mb → samples of ``function`` (oldest first)."""
        return {mb: list(b) for (fn, mb), b in self.tasks.items() if fn == function and b}

    def size(self) -> int:
        tables: Iterable[dict] = (
            self.tasks,
            self.downloads,
            self.uploads,
            self.stores,
            self.startups,
            self.shm_writes,
            self.maps,
            self.fetches,
        )
        return sum(len(b) for t in tables for b in t.values())

    def counts(self) -> dict:
        """Sample counts, small enough to store on a plan."""
        return {
            "tasks": {f"{fn}@{mb}": len(b) for (fn, mb), b in sorted(self.tasks.items())},
            "downloads": {str(mb): len(b) for mb, b in sorted(self.downloads.items())},
            "uploads": {str(mb): len(b) for mb, b in sorted(self.uploads.items())},
            "startups": {f"{mb}-{kind}": len(b) for (mb, kind), b in sorted(self.startups.items())},
            **{
                name: {str(mb): len(b) for mb, b in sorted(getattr(self, name).items())}
                for name in TIER_TABLES
                if getattr(self, name)
            },
        }
