"""Task functions the tests run on real workers (importable by path)."""

from __future__ import annotations

import os
import signal
import time

from orchestrator.core.authoring import task
from workers.hooks import Hook


def _redis():
    from store.redis_client import get_redis

    return get_redis()


def _count(tag: str) -> None:
    """One more call under ``tag`` (no tag: not counted)."""
    if tag:
        _redis().incr(f"sf:test:count:{tag}")


@task
def value(x):
    return x


@task
def inc(x, tag: str = ""):
    _count(tag)
    return x + 1


@task
def add(a, b, tag: str = ""):
    _count(tag)
    return a + b


@task
def total(xs, tag: str = ""):
    _count(tag)
    return sum(xs)


@task
def slow_inc(x, seconds: float, tag: str = ""):
    _count(tag)
    time.sleep(seconds)
    return x + 1


def gate_key(gate: str) -> str:
    return f"sf:test:gate:{gate}"


@task
def slow_once_inc(x, seconds: float, tag: str, gate: str = ""):
    """``slow_inc`` whose first execution under ``tag`` (counted) sleeps ``seconds`` and the later ones do
    not: a task killed mid-run whose re-execution the test need not wait out again. With ``gate``, the first
    execution ends as soon as the test opens it (``open_gate``), ``seconds`` being only the bound: a test
    holds the task running exactly as long as it needs to, not a guessed time."""
    n = _redis().incr(f"sf:test:count:{tag}")
    if n > 1:
        return x + 1
    if not gate:
        time.sleep(seconds)
        return x + 1
    deadline = time.monotonic() + seconds
    while not _redis().exists(gate_key(gate)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return x + 1


def open_gate(gate: str) -> None:
    """Lets every ``slow_once_inc`` waiting at ``gate`` end (the key goes with the test Redis's flush)."""
    _redis().set(gate_key(gate), 1)


PACE_KEY = "sf:test:pace"


@task
def paced(x, tag: str = ""):
    """Sleeps as long as the dial ``sf:test:pace`` says (0.4 s unless set): the same spec runs fast while it
    builds history, then slower than its history said (live tracking's slow-down scenario)."""
    _count(tag)
    time.sleep(float(_redis().get(PACE_KEY) or 0.4))
    return x + 1


@task
def hang(x, seconds: float = 3600.0, tag: str = ""):
    """Sleeps (almost) forever unless stopped; counts that it started."""
    _count(tag)
    time.sleep(seconds)
    return x


@task
def stubborn(x, seconds: float = 3600.0, tag: str = ""):
    """Ignores being stopped (swallows everything) so that only killing its process stops it."""
    _count(tag)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except BaseException:
            pass
    return x


@task
def flaky(x, tag: str, failures: int, error: str = "ConnectionError"):
    """Raises ``error`` the first ``failures`` times (counted in Redis under ``tag``), then succeeds."""
    n = _redis().incr(f"sf:test:count:{tag}")
    if n <= failures:
        raise {"ConnectionError": ConnectionError, "ValueError": ValueError}[error](f"attempt {n} of {tag} fails")
    return x + n


@task
def hog(mb: int):
    """Touches ``mb`` MB of memory (more than a small configuration allows: the kernel kills it)."""
    block = bytearray(mb * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return len(block)


@task
def log_line(x, marker: str):
    """Logs ``marker`` through a slaflow logger (as user code may) and returns x."""
    import logging

    logging.getLogger("slaflow.tests").warning("log line %s", marker)
    return x


@task
def boom(x):
    raise ValueError(f"boom on {x}")


@task
def die_once(x, tag: str):
    """Kill this pool process the first time (simulating an OOM kill), then behave."""
    if _redis().set(f"sf:test:died:{tag}", "1", nx=True, ex=300):
        os.kill(os.getpid(), signal.SIGKILL)
    _count(tag)
    return x * 10


@task
def cpu_burn(n: int):
    """Pure-Python CPU work; returns its own wall time so quotas can be compared."""
    t0 = time.perf_counter()
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return {"acc": acc, "seconds": time.perf_counter() - t0}


@task
def unserialisable(x):
    return object()


def not_a_task(x):
    return x


@task
def hook_victim(x):
    """The task ``ProbeHook`` breaks."""
    return x


@task
def blob(x, mb: int, seconds: float = 0.0, straggle_s: float = 0.0, tag: str = ""):
    """``mb`` MB of deterministic floats after ``seconds``; the first execution under ``tag`` (counted)
    also sleeps ``straggle_s`` more, as on a slow node — a second execution (a duplicate) does not."""
    import numpy as np

    n = _redis().incr(f"sf:test:count:{tag}") if tag else 0
    time.sleep(seconds + (straggle_s if n == 1 else 0.0))
    return np.random.default_rng(int(x)).standard_normal(mb * (1 << 20) // 8)


@task
def payload(x, mb: int, seconds: float = 0.0):
    """``mb`` MB of deterministic floats after ``seconds`` (``blob`` without its straggling)."""
    import numpy as np

    time.sleep(seconds)
    return np.random.default_rng(int(x) + 1).standard_normal(mb * (1 << 20) // 8)


@task
def checksum_all(arrays, tag: str = "") -> str:
    """The SHA-256 of every input's bytes in order (inputs made on several hosts, read on one)."""
    import hashlib

    _count(tag)
    h = hashlib.sha256()
    for a in arrays:
        h.update(a.tobytes())
    return h.hexdigest()


@task
def digest(a, b, tag: str = "", seconds: float = 0.0):
    """The SHA-256 of ``b``'s bytes (what this task received), after waiting for ``a`` and ``seconds``."""
    import hashlib

    _count(tag)
    time.sleep(seconds)
    return hashlib.sha256(b.tobytes()).hexdigest()


@task
def after(x, wait_tag: str, seconds: float):
    """``x``, ``seconds`` after the first task counted under ``wait_tag`` began (an ordering the
    tests need between tasks of one run: this one finishes after that one)."""
    deadline = time.monotonic() + 60
    while int(_redis().get(f"sf:test:count:{wait_tag}") or 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(seconds)
    return x


@task
def gather(values, tag: str = ""):
    _count(tag)
    return list(values)


@task
def split_n(n: int) -> list:
    """[0, 1, …, n-1]: a list to map over."""
    return list(range(n))


@task
def square(x, add: int = 0):
    return x * x + add


@task
def count_up(n: int, seconds: float, fail_at: int = -1):
    """A generator task: yields 0 .. n-1, one every ``seconds``; raises instead of yielding ``fail_at``."""
    for i in range(n):
        time.sleep(seconds)
        if i == fail_at:
            raise ValueError(f"the generator broke at item {i}")
        yield i


@task(streaming=True)
def running_sum(items):
    """A streaming consumer: sums items as they come; says when the first one arrived."""
    total, first_at, n = 0, None, 0
    for x in items:
        first_at = first_at or time.time()
        total += x
        n += 1
    return {"total": total, "n": n, "first_at": first_at}


class ProbeHook(Hook):
    """A test hook every test worker runs (``tests.settings.SLAFLOW_HOOKS``): it lists the stages it
    sees for tasks tagged ``probe…`` and raises at ``before_execute`` of ``hook_victim`` tasks."""

    name = "probe"

    def _note(self, stage: str, task) -> None:
        tag = dict(task.node.kwargs).get("tag", "")
        if isinstance(tag, str) and tag.startswith("probe"):
            _redis().rpush(f"sf:test:stages:{tag}", f"{stage}:{task.node_id}")

    def before_inputs(self, branch, task):
        self._note("before_inputs", task)

    def before_execute(self, branch, task):
        if task.node.function == "tests.taskfns.hook_victim":
            raise RuntimeError("the probe hook breaks hook_victim on purpose")
        self._note("before_execute", task)

    def after_execute(self, branch, task):
        self._note("after_execute", task)

    def before_upload(self, branch, task):
        self._note("before_upload", task)

    def after_complete(self, branch, task):
        self._note("after_complete", task)


@task
def parse_json(raw: bytes):
    """A program's JSON output as data (the sandbox probe's, tests/bin/sandbox_probe)."""
    import json

    return json.loads(raw)


@task
def buffer_facts(a, b):
    """How each input array reached this task: [owns its data, writeable, sum] per input (an input mapped
    from the host's shared memory owns nothing and is read-only)."""
    return [[bool(x.flags.owndata), bool(x.flags.writeable), float(x.sum())] for x in (a, b)]


@task
def times_ten(x, tag: str = ""):
    """``x`` × 10 (a new array, whatever the input's buffer)."""
    _count(tag)
    return x * 10


@task
def die_once_then(x, tag: str):
    """Kill this pool process the first time (an OOM kill, say), then return ``x``'s sum."""
    if _redis().set(f"sf:test:died:{tag}", "1", nx=True, ex=300):
        os.kill(os.getpid(), signal.SIGKILL)
    _count(tag)
    return float(x.sum())


@task
def sized_bytes(seed: int, size: int, tag: str = ""):
    """``size`` deterministic bytes of ``seed`` (counted under ``tag``: how many times it ran)."""
    import numpy as np

    if tag:
        _count(tag)
    return np.random.default_rng(int(seed)).integers(0, 256, size=int(size), dtype=np.uint8).tobytes()
