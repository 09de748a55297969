"""Predictions from bounded history: exec time, output size, transfers, start-ups.

The model follows the prior system (REFERENCE.md "Predictions"):

* With at least ``MIN_EXACT`` (6) samples on the exact memory size, use them.
  Otherwise normalise every sample to a 1,024 MB baseline with exponent 0.3 —
  times × (mem / 1024)^0.3, speeds × (1024 / mem)^0.3 — and scale to the target
  memory the other way. Improvement: a task sample that knows the CPU it used
  under an enforced quota scales only that CPU part, by the ratio of the
  configurations' CPU speeds (``exec_at``) — configurations here are real
  quotas, so a sleeping task is no slower on 512 MB and a CPU-bound one is
  exactly 1/cpus slower; this is what lets non-uniform find the tasks that do
  not need a large configuration.
* Related samples by size: widen a window around the size from 5 % to 100 % of
  the typical size (the size itself, or the samples' median when it is 0) in
  5 % steps until it holds 5 samples; keep up to 100, balanced below and
  above; failing that, the 5 closest.
* Execution time scales with input bytes (time per input byte) and output
  size with the output/input ratio — but only above ``SCALE_FLOOR_BYTES``:
  below it time is overhead, not bytes, and samples are used as they are.

and fixes its defects:

* caches are per instance (never shared between predictors) and keyed by
  what the answer depends on, so repeated questions hit (see ``hits``);
* for a pN SLA, times use the N-th percentile and transfer *speeds* the
  (100-N)-th: a slow speed is the pessimistic one. ``average`` uses the mean
  of the implied times (not the time at the mean speed).

Sizes are predicted with the median (the mean for ``average``): pessimism
enters once, through speeds and times, not twice.

A task's *CPU demand* (``cpu_demand``) is the cores it keeps busy while it
executes uncontended — its measured CPU time over its exec time at the target
configuration, at most that configuration's CPU speed — which the timing
model shares among the tasks running at once (``sharing``). Task times in
history are uncontended ones (the service divides out the contention each
sample's run saw), so the model adds back the contention of the plan at hand.

``*_draws`` return the related samples as values at the target (seconds or
bytes); point predictions are statistics of these arrays. Monte Carlo uses
``*_neutral`` arrays instead: the same samples divided by their run's factor
(``History.run_factors``: how slow that run was as a whole), so that one draw
of a run factor per simulated run can slow all its tasks together — the
noise a loaded machine puts on every task of a run at once.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, cast

import numpy as np

from orchestrator.core.resources import ResourceConfig
from orchestrator.core.sla import SLA, parse as parse_sla
from orchestrator.core.startup import COLD, NEW, WARM
from orchestrator.planning.history import History

BASELINE_MB = 1024
EXPONENT = 0.3
MIN_EXACT = 6
RELATED_MIN = 5
RELATED_MAX = 100
SCALE_FLOOR_BYTES = 4096
FACTOR_HALF_LIFE_RUNS = 10

# Used only when history has no sample of a kind at all (said so in ``defaults_used``).
DEFAULT_COLD_S = 0.5
DEFAULT_WARM_S = 0.02
DEFAULT_LATENCY_S = 0.001
DEFAULT_BYTES_PER_S = 200e6
# Per output-store tier (``store.tiers``), measured on the development machine: writing a file into
# /dev/shm with its checksum ~0.5 ms/MB, mapping it and checking the checksum ~0.2 ms/MB; another host's
# fetch is unknown until measured (loopback's speed assumed).
TIER_DEFAULTS = {"shm_write": (0.0003, 2e9), "map": (0.0002, 5e9), "fetch": (0.001, 1e9)}
MIX_POINTS = 100  # draws of a read that maps on some hosts and fetches on others

_MEDIAN = SLA(50)


class PredictionError(LookupError):
    """History holds nothing for what was asked; the message names it."""


def as_sla(sla: SLA | str) -> SLA:
    return sla if isinstance(sla, SLA) else parse_sla(sla)


def time_scale(sample_mb: int, target_mb: int) -> float:
    """Factor turning a time observed at ``sample_mb`` into one at ``target_mb`` (via the baseline)."""
    return (sample_mb / BASELINE_MB) ** EXPONENT * (BASELINE_MB / target_mb) ** EXPONENT


def speed_scale(sample_mb: int, target_mb: int) -> float:
    return 1.0 / time_scale(sample_mb, target_mb)


def cpu_speed(memory_mb: int) -> float:
    """CPU-seconds of single-threaded work a configuration does per second: its quota, at most a core."""
    return min(ResourceConfig(int(memory_mb)).cpus, 1.0)


def exec_at(exec_s: float, cpu_s: float | None, sample_mb: int, target_mb: int) -> float:
    """A task time observed at ``sample_mb`` as it would be at ``target_mb``.

    With the CPU it used under an enforced quota, only that part scales, by the ratio of CPU speeds:
    a task that sleeps or waits takes as long on any configuration, a CPU-bound one 1/cpus as long.
    Without it, the prior system's rule: time × (sample / target)^0.3.
    """
    if sample_mb == target_mb:
        return exec_s
    if cpu_s is None:
        return exec_s * time_scale(sample_mb, target_mb)
    busy_cpu = min(cpu_s / cpu_speed(sample_mb), exec_s)  # wall time the CPU work took there
    return exec_s - busy_cpu + busy_cpu * cpu_speed(sample_mb) / cpu_speed(target_mb)


_WIDTHS = np.arange(5, 101, 5) / 100.0


def related(sizes: np.ndarray, target: float, age: np.ndarray | None = None) -> np.ndarray:
    """Indices of the samples related to ``target`` (``sizes`` sorted ascending).

    Windows grow in ratio around the size (±5 %, ±10 %, … up to half to twice it; sizes
    below the scaling floor count as the floor) until five samples fall in one. When more
    than 100 fall in it, the closest ones are kept, 50 below and 50 above (fewer on one
    side leave room for the other); among equally close samples the newest (``age``:
    larger is newer) win. When no window holds five,
    those within half to twice the size are kept, however few; only when none is that
    close, the five closest in ratio (their times then scale per byte to the size).

    Sizes of one function's tasks can span orders of magnitude (a real workflow's
    category: Epigenomics' ``mapMerge`` merged 3.9 MB in one task and 181 MB in
    another): scaled per byte, a far sample's time or output is a wild guess (the 3.9 MB
    one, 74x, predicted a 6 GB output and a 27 s task for a 0.2 s one), so it is used
    only when nothing nearer is known. ::

        >>> sizes = np.array([3.9e6, 3.9e6, 1.81e8, 1.81e8])
        >>> [float(s) for s in sizes[related(sizes, 2.9e8)]]
        [181000000.0, 181000000.0]
    """
    n = len(sizes)
    # Sizes below the scaling floor are one size (times do not scale with them either).
    eff, t = np.maximum(sizes, float(SCALE_FLOOR_BYTES)), max(float(target), float(SCALE_FLOOR_BYTES))
    los = np.searchsorted(eff, t / (1.0 + _WIDTHS), "left")
    his = np.searchsorted(eff, t * (1.0 + _WIDTHS), "right")
    enough = np.nonzero(his - los >= RELATED_MIN)[0]
    if len(enough):
        lo, hi = int(los[enough[0]]), int(his[enough[0]])
        if hi - lo <= RELATED_MAX:
            return np.arange(lo, hi)
        mid = int(np.searchsorted(eff, t, "left"))
        below, above = mid - lo, hi - mid
        take_below = min(below, max(RELATED_MAX // 2, RELATED_MAX - above))
        take_above = min(above, RELATED_MAX - take_below)
        newest = age if age is not None else np.arange(n)
        lower = np.arange(lo, mid)
        upper = np.arange(mid, hi)
        lower = lower[np.lexsort((-newest[lower], t - eff[lower]))][:take_below]
        upper = upper[np.lexsort((-newest[upper], eff[upper] - t))][:take_above]
        return np.sort(np.concatenate([lower, upper]))
    if his[-1] > los[-1]:
        return np.arange(int(los[-1]), int(his[-1]))
    distance = np.abs(np.log(eff) - np.log(t))
    return np.sort(np.argsort(distance, kind="stable")[:RELATED_MIN])


def percentile(values: np.ndarray, q: float) -> float:
    """numpy's default (linear) percentile, without its per-call overhead on small arrays."""
    v = np.sort(values)
    pos = (len(v) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return float(v[lo] + (v[hi] - v[lo]) * (pos - lo))


def statistic(values: np.ndarray, sla: SLA, *, speed: bool = False) -> float:
    """Mean, or the percentile the SLA names — mirrored for speeds (slow is pessimistic)."""
    if sla.is_average:
        return float(np.mean(values))
    pct = cast(int, sla.percentile)  # not the average
    q = 100 - pct if speed else pct
    return percentile(values, q)


def size_key(nbytes: int) -> int:
    """Sizes above the scaling floor rounded to 3 significant digits (≤ 0.5 %): the cache
    then hits for nearly equal sizes, at a cost far below the 5 % related-sample window."""
    nbytes = int(nbytes)
    if nbytes < SCALE_FLOOR_BYTES:
        return nbytes
    step = 10 ** (len(str(nbytes)) - 3)
    return (nbytes + step // 2) // step * step


class _Pool:
    """Samples of one kind normalised to a target memory, sorted by size.

    ``age`` ranks samples by recency within their memory size (0 = oldest).
    """

    __slots__ = ("sizes", "columns", "exact", "age")

    def __init__(self, sizes: np.ndarray, columns: dict[str, np.ndarray], exact: bool, age: np.ndarray | None = None):
        order = np.argsort(sizes, kind="stable")
        self.sizes = sizes[order].astype(float)
        self.columns = {k: v[order] for k, v in columns.items()}
        self.exact = exact
        self.age = (age if age is not None else np.arange(len(sizes)))[order]

    def related(self, target: float) -> np.ndarray:
        return related(self.sizes, target, self.age)


class Predictor:
    """Answers questions about one workflow's history. Not thread-safe; cheap to create."""

    def __init__(self, history: History | None):
        self.history = history if history is not None else History()
        self._cache: dict[tuple, object] = {}
        self.hits = 0
        self.misses = 0
        self.defaults_used: set[str] = set()

    # --- plumbing ------------------------------------------------------------------

    def _memo(self, key: tuple, compute: Callable[[], object]) -> Any:
        try:
            value = self._cache[key]
        except KeyError:
            self.misses += 1
            value = self._cache[key] = compute()
            return value
        self.hits += 1
        return value

    @property
    def empty(self) -> bool:
        return self.history.empty

    def missing_functions(self, functions: Iterable[str]) -> list[str]:
        known = self.history.functions()
        return sorted({f for f in functions if f not in known})

    # --- task samples ------------------------------------------------------------

    def _task_pool(self, function: str, memory_mb: int) -> _Pool:
        def build() -> _Pool:
            by_mb = self.history.task_samples(function)
            if not by_mb:
                raise PredictionError(f"no history for function {function!r}")
            exact = by_mb.get(memory_mb, [])
            use = {memory_mb: exact} if len(exact) >= MIN_EXACT else by_mb
            sizes, ex, out, post, age, factor, cpu, cpu_s = [], [], [], [], [], [], [], []
            speed = cpu_speed(memory_mb)
            run_factor = self.history.run_factors
            for mb, samples in sorted(use.items()):
                f = 1.0 if mb == memory_mb else time_scale(mb, memory_mb)
                for k, s in enumerate(samples):
                    sizes.append(s.input_bytes)
                    # A task cannot compute faster than its configuration's CPU speed: a sample shorter
                    # than its CPU seconds at that speed had contention divided out of it once too often.
                    exec_s = s.exec_s if s.cpu_s is None else max(s.exec_s, s.cpu_s / cpu_speed(mb))
                    ex.append(exec_at(exec_s, s.cpu_s, mb, memory_mb))
                    cpu_s.append(np.nan if s.cpu_s is None else s.cpu_s)
                    cpu.append(np.nan if s.cpu_s is None else min(speed, s.cpu_s / ex[-1]) if ex[-1] > 0 else 0.0)
                    out.append(s.output_bytes)
                    post.append(s.post_s * f)
                    age.append(k)
                    factor.append(run_factor.get(s.run, 1.0))
            return _Pool(
                np.array(sizes),
                {
                    "exec": np.array(ex),
                    "out": np.array(out, dtype=float),
                    "post": np.array(post),
                    "factor": np.array(factor),
                    "cpu": np.array(cpu, dtype=float),
                    "cpu_s": np.array(cpu_s, dtype=float),
                },
                exact=len(exact) >= MIN_EXACT,
                age=np.array(age),
            )

        return self._memo(("task-pool", function, int(memory_mb)), build)

    def exec_draws(self, function: str, memory_mb: int, input_bytes: int) -> np.ndarray:
        input_bytes = size_key(input_bytes)

        def build():
            pool = self._task_pool(function, memory_mb)
            idx = pool.related(input_bytes)
            values = pool.columns["exec"][idx]
            return _scale_by_size(values, pool.sizes[idx], input_bytes)

        return self._memo(("exec", function, int(memory_mb), int(input_bytes)), build)

    def exec_neutral(self, function: str, memory_mb: int, input_bytes: int) -> np.ndarray:
        input_bytes = size_key(input_bytes)

        def build():
            pool = self._task_pool(function, memory_mb)
            idx = pool.related(input_bytes)
            return self.exec_draws(function, memory_mb, input_bytes) / pool.columns["factor"][idx]

        return self._memo(("exec-neutral", function, int(memory_mb), int(input_bytes)), build)

    def exec_time(self, function: str, memory_mb: int, input_bytes: int, sla: SLA | str) -> float:
        sla = as_sla(sla)
        input_bytes = size_key(input_bytes)
        return self._memo(
            ("exec-at", function, int(memory_mb), int(input_bytes), sla),
            lambda: statistic(self.exec_draws(function, memory_mb, input_bytes), sla),
        )

    def cpu_demand(self, function: str, memory_mb: int, input_bytes: int) -> float:
        """Cores the task keeps busy while executing uncontended at ``memory_mb`` (median of the
        related samples that measured their CPU); 0 when none did (its time is then not shared)."""
        input_bytes = size_key(input_bytes)

        def build():
            pool = self._task_pool(function, memory_mb)
            rates = pool.columns["cpu"][pool.related(input_bytes)]
            rates = rates[~np.isnan(rates)]
            return float(np.median(rates)) if len(rates) else 0.0

        return self._memo(("cpu", function, int(memory_mb), int(input_bytes)), build)

    def cpu_seconds(self, function: str, memory_mb: int, input_bytes: int) -> float:
        """CPU seconds the task needs at least, whatever its configuration: the *least* of the related
        samples that measured their CPU (scaled by size like exec times); 0 when none did. The physical
        floor's weight (``planning.floor``), which must never exceed what a task really needs: the tasks
        of one function differ (a real workflow's category, e.g. 1000Genome's ``individuals``, varies
        several-fold with inputs of one size), and their median summed over the DAG put the floor 28 %
        above the CPU a suite DAG used, and above runs that happened."""
        input_bytes = size_key(input_bytes)

        def build():
            pool = self._task_pool(function, memory_mb)
            idx = pool.related(input_bytes)
            values = pool.columns["cpu_s"][idx]
            seen = ~np.isnan(values)
            if not seen.any():
                return 0.0
            return float(np.min(_scale_by_size(values[seen], pool.sizes[idx][seen], input_bytes)))

        return self._memo(("cpu-s", function, int(memory_mb), int(input_bytes)), build)

    def output_bytes(self, function: str, memory_mb: int, input_bytes: int, sla: SLA | str = _MEDIAN) -> int:
        sla = as_sla(sla)
        stat = sla if sla.is_average else _MEDIAN
        input_bytes = size_key(input_bytes)

        def build():
            pool = self._task_pool(function, memory_mb)
            idx = pool.related(input_bytes)
            values = _scale_by_size(pool.columns["out"][idx], pool.sizes[idx], input_bytes)
            return max(1, int(round(statistic(values, stat))))

        return self._memo(("out", function, int(memory_mb), int(input_bytes), stat), build)

    def post_draws(self, function: str, memory_mb: int) -> np.ndarray:
        return self._memo(
            ("post", function, int(memory_mb)), lambda: self._task_pool(function, memory_mb).columns["post"]
        )

    def post_neutral(self, function: str, memory_mb: int) -> np.ndarray:
        def build():
            pool = self._task_pool(function, memory_mb)
            return pool.columns["post"] / pool.columns["factor"]

        return self._memo(("post-neutral", function, int(memory_mb)), build)

    def run_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """Factors of the recent runs and their weights: a machine's load drifts, so a run
        ``FACTOR_HALF_LIFE_RUNS`` older counts half as much. ([1.0], [1.0]) without history."""

        def build():
            items = sorted(self.history.run_factors.items())  # run ids grow with time
            if not items:
                return np.array([1.0]), np.array([1.0])
            values = np.array([f for _, f in items], dtype=float)
            age = np.arange(len(items))[::-1]
            weights = 0.5 ** (age / FACTOR_HALF_LIFE_RUNS)
            return values, weights / weights.sum()

        return self._memo(("run-factors",), build)

    def post_time(self, function: str, memory_mb: int, sla: SLA | str) -> float:
        sla = as_sla(sla)
        return self._memo(
            ("post-at", function, int(memory_mb), sla), lambda: statistic(self.post_draws(function, memory_mb), sla)
        )

    def exact_samples(self, function: str, memory_mb: int) -> int:
        return len(self.history.tasks.get((function, int(memory_mb)), ()))

    # --- transfers -------------------------------------------------------------------

    def shared_memory(self, nbytes: int, *, one_host: bool = False) -> bool:
        """Whether an output of ``nbytes`` that travels goes through the hosts' shared memory (and, with
        ``one_host``, every reader maps it where it was made: the workers span one host)."""
        return through_shared_memory(self.history.shm_min_bytes, self.history.hosts, nbytes, one_host=one_host)

    def tier_kind(self, kind: str, nbytes: int) -> str:
        """The transfer an output of ``nbytes`` really makes (``store.tiers``): one at least the shared-memory
        threshold is written into the host's shared memory (not uploaded) and mapped there (not
        downloaded) — or, when the workers span several hosts, mapped by a reader on its host and fetched
        by one elsewhere (``mixed``: priced by ``local_share``)."""
        shm = self.history.shm_min_bytes
        if not shm or nbytes < shm or kind not in ("download", "upload"):
            return kind
        if kind == "upload":
            return "shm_write"
        return "map" if self.history.hosts <= 1 else "mixed"

    def local_share(self) -> float:
        """The share of a shared-memory output's readers that run on its host, where the workers span several:
        as past runs of the workflow saw it (``History.local_reads``), else one host in ``hosts`` (readers
        placed without regard to their inputs)."""
        seen = self.history.local_reads
        return float(seen) if seen is not None else 1.0 / max(1, self.history.hosts)

    def _default_time(self, kind: str, nbytes: int) -> float:
        latency, speed = TIER_DEFAULTS.get(kind, (DEFAULT_LATENCY_S, DEFAULT_BYTES_PER_S))
        return latency + nbytes / speed

    def _transfer_pool(self, kind: str, memory_mb: int) -> _Pool | None:
        tables = {
            "download": ("downloads", "uploads"),
            "upload": ("uploads", "downloads"),
            "store": ("stores", "uploads"),
            "shm_write": ("shm_writes",),
            "map": ("maps",),
            "fetch": ("fetches",),
        }

        def build():
            for name in tables[kind]:
                by_mb = {mb: list(b) for mb, b in getattr(self.history, name).items() if b}
                if by_mb:
                    break
            else:
                self.defaults_used.add(f"{kind} speed")
                return None
            if name != tables[kind][0]:
                self.defaults_used.add(f"{kind} from {name}")
            exact = by_mb.get(memory_mb, [])
            use = {memory_mb: exact} if len(exact) >= MIN_EXACT else by_mb
            sizes, seconds, speeds, age = [], [], [], []
            for mb, samples in sorted(use.items()):
                f = 1.0 if mb == memory_mb else speed_scale(mb, memory_mb)
                for k, s in enumerate(samples):
                    secs = max(s.seconds, 1e-6)
                    sizes.append(s.nbytes)
                    speeds.append(s.nbytes / secs * f)
                    seconds.append(secs / f)
                    age.append(k)
            return _Pool(
                np.array(sizes),
                {"speed": np.array(speeds), "seconds": np.array(seconds)},
                exact=len(exact) >= MIN_EXACT,
                age=np.array(age),
            )

        return self._memo(("xfer-pool", kind, int(memory_mb)), build)

    def transfer_draws(self, kind: str, nbytes: int, memory_mb: int) -> np.ndarray:
        """Seconds to move ``nbytes`` (kind: download, upload, store), one value per related sample."""
        nbytes = size_key(nbytes)
        tiered = self.tier_kind(kind, nbytes)
        if tiered == "mixed":
            return self._memo(("xfer-mixed", int(nbytes), int(memory_mb)), lambda: self._mixed_draws(nbytes, memory_mb))
        return self._tier_draws(tiered, nbytes, memory_mb)

    def _tier_draws(self, tiered: str, nbytes: int, memory_mb: int) -> np.ndarray:
        def build():
            pool = self._transfer_pool(tiered, memory_mb)
            if pool is None:
                return np.array([self._default_time(tiered, nbytes)])
            if nbytes >= SCALE_FLOOR_BYTES:
                idx = _speed_samples(pool, nbytes)
                if idx is None:
                    return np.array([self._default_time(tiered, nbytes)])
                return nbytes / pool.columns["speed"][idx]
            return pool.columns["seconds"][pool.related(nbytes)]

        return self._memo(("xfer", tiered, int(nbytes), int(memory_mb)), build)

    def _mixed_draws(self, nbytes: int, memory_mb: int) -> np.ndarray:
        """A read on one of several hosts: ``MIX_POINTS`` draws, ``local_share`` of them a map's (the
        quantiles of its samples), the rest a fetch's."""
        local = round(self.local_share() * MIX_POINTS)
        parts = []
        for tier, n in (("map", local), ("fetch", MIX_POINTS - local)):
            if n:
                parts.append(np.quantile(self._tier_draws(tier, nbytes, memory_mb), (np.arange(n) + 0.5) / n))
        return np.concatenate(parts)

    def transfer_time(self, kind: str, nbytes: int, memory_mb: int, sla: SLA | str) -> float:
        sla = as_sla(sla)
        nbytes = size_key(nbytes)
        tiered = self.tier_kind(kind, nbytes)

        def build():
            pool = None if tiered == "mixed" else self._transfer_pool(tiered, memory_mb)
            if pool is None or nbytes < SCALE_FLOOR_BYTES:
                return statistic(self.transfer_draws(kind, nbytes, memory_mb), sla)
            idx = _speed_samples(pool, nbytes)
            if idx is None:
                return self._default_time(tiered, nbytes)
            if sla.is_average:  # the mean time, not the time at the mean speed
                return float(np.mean(nbytes / pool.columns["speed"][idx]))
            return nbytes / statistic(pool.columns["speed"][idx], sla, speed=True)

        return self._memo(("xfer-at", kind, int(nbytes), int(memory_mb), sla), build)

    def download_time(self, nbytes: int, memory_mb: int, sla: SLA | str) -> float:
        return self.transfer_time("download", nbytes, memory_mb, sla)

    def upload_time(self, nbytes: int, memory_mb: int, sla: SLA | str) -> float:
        return self.transfer_time("upload", nbytes, memory_mb, sla)

    # --- start-ups -------------------------------------------------------------------

    def _startup_pool(self, memory_mb: int, kind: str) -> _Pool | None:
        """Samples of one start-up kind normalised to ``memory_mb``; a kind with no samples
        at all borrows (said in ``defaults_used``): a cold start on an existing process is a
        warm one plus the extra set-up a cold start does; a spawn is at least a cold start."""

        def collect(k: str) -> dict[int, list]:
            return {mb: list(b) for (mb, kk), b in self.history.startups.items() if kk == k and b}

        def build():
            by_mb = collect(kind)
            shift = 0.0
            if not by_mb:
                if kind == COLD and collect(WARM):
                    by_mb = collect(WARM)
                    shift = max(0.0, _mean_billed(collect(NEW)) - _mean_billed(by_mb)) if collect(NEW) else 0.0
                    self.defaults_used.add("cold start-ups from warm ones")
                else:
                    for other in {WARM: (COLD, NEW), COLD: (NEW,), NEW: (COLD, WARM)}[kind]:
                        by_mb = collect(other)
                        if by_mb:
                            self.defaults_used.add(f"{kind} start-ups from {other} ones")
                            break
                    else:
                        self.defaults_used.add("start-up times")
                        return None
            exact = by_mb.get(memory_mb, [])
            use = {memory_mb: exact} if len(exact) >= MIN_EXACT else by_mb
            total, billed, factor = [], [], []
            for mb, samples in sorted(use.items()):
                f = 1.0 if mb == memory_mb else time_scale(mb, memory_mb)
                for s in samples:
                    total.append((s.startup_s + shift) * f)
                    billed.append((s.billed_s + shift) * f)
                    factor.append(self.history.run_factors.get(s.run, 1.0))
            return _Pool(
                np.zeros(len(total)),
                {"total": np.array(total), "billed": np.array(billed), "factor": np.array(factor)},
                exact=len(exact) >= MIN_EXACT,
            )

        return self._memo(("startup-pool", int(memory_mb), kind), build)

    def startup_draws(self, memory_mb: int, kind: str) -> np.ndarray:
        pool = self._startup_pool(memory_mb, kind)
        if pool is None:
            return np.array([DEFAULT_WARM_S if kind == WARM else DEFAULT_COLD_S])
        return pool.columns["total"]

    def startup_neutral(self, memory_mb: int, kind: str) -> np.ndarray:
        def build():
            pool = self._startup_pool(memory_mb, kind)
            if pool is None:
                return self.startup_draws(memory_mb, kind)
            return pool.columns["total"] / pool.columns["factor"]

        return self._memo(("startup-neutral", int(memory_mb), kind), build)

    def startup_time(self, memory_mb: int, kind: str, sla: SLA | str) -> float:
        sla = as_sla(sla)
        return self._memo(
            ("startup-at", int(memory_mb), kind, sla), lambda: statistic(self.startup_draws(memory_mb, kind), sla)
        )

    def billed_startup(self, memory_mb: int, kind: str) -> float:
        """Mean part of a start-up inside the worker's billed activity (cost, not time)."""

        def build():
            pool = self._startup_pool(memory_mb, kind)
            return 0.0 if pool is None else float(np.mean(pool.columns["billed"]))

        return self._memo(("billed", int(memory_mb), kind), build)


def through_shared_memory(shm_min_bytes: int, hosts: int, nbytes: int, *, one_host: bool = False) -> bool:
    """Whether an output of ``nbytes`` that travels goes through the hosts' shared memory (the output store's
    tier for outputs of at least ``shm_min_bytes``; 0: none do) — and, with ``one_host``, whether every
    reader then maps it where it was made (the workers span one host)."""
    return bool(shm_min_bytes) and nbytes >= shm_min_bytes and (not one_host or hosts <= 1)


def store_tiers(params: dict, predictor: Predictor | None) -> tuple[int, int]:
    """(shared-memory threshold, hosts) an optimization rule judges transfers by: its parameters' (the
    settings, given to every rule), else the history's, else none."""
    if "shm_min_bytes" in params:
        return int(params["shm_min_bytes"]), int(params.get("hosts", 1))
    if predictor is not None:
        return predictor.history.shm_min_bytes, predictor.history.hosts
    return 0, 1


def _mean_billed(by_mb: dict[int, list]) -> float:
    values = [s.billed_s for samples in by_mb.values() for s in samples]
    return float(np.mean(values)) if values else 0.0


def _speed_samples(pool: "_Pool", nbytes: int) -> np.ndarray | None:
    """Samples whose speed says something about moving ``nbytes`` (at least the scaling floor): a
    transfer of a few bytes measures latency, and its "speed" (bytes over seconds) would predict hours
    for megabytes. None when there are none (the default speed then applies)."""
    idx = pool.related(nbytes)
    idx = idx[pool.sizes[idx] >= SCALE_FLOOR_BYTES]
    if len(idx):
        return idx
    big = np.nonzero(pool.sizes >= SCALE_FLOOR_BYTES)[0]
    return big if len(big) else None


def _scale_by_size(values: np.ndarray, sizes: np.ndarray, target: int) -> np.ndarray:
    """Per-byte scaling to ``target`` for samples above the floor; smaller ones as observed."""
    if target < SCALE_FLOOR_BYTES:
        return values
    big = sizes >= SCALE_FLOOR_BYTES
    if not big.any():
        return values
    out = values.astype(float, copy=True)
    out[big] = values[big] * (target / sizes[big])
    return out
