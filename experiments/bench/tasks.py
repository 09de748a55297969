"""Task functions of the runtime benchmark, shared by slaflow (as ``@task``) and Dask (``.fn``).

Every function is deterministic, so the results of both systems can be
compared exactly (or with ``np.allclose`` for floating point).
"""

from __future__ import annotations

import numpy as np

from orchestrator.core.authoring import task


@task
def noop(x):
    return x


@task
def inc(x):
    return x + 1


@task
def total(xs):
    return sum(xs)


@task
def add(a, b):
    return a + b


@task
def array(seed: int, n: int):
    """A deterministic float64 vector of n elements."""
    return np.random.default_rng(seed).standard_normal(n)


@task
def block(seed: int, i: int, j: int, b: int):
    """Block (i, j) of a generated matrix."""
    return np.random.default_rng([seed, i, j]).standard_normal((b, b))


@task
def matmul(a, b):
    return a @ b


@task
def add_blocks(blocks):
    out = blocks[0].copy()
    for other in blocks[1:]:
        out += other
    return out


@task
def assemble(blocks, nb: int):
    return np.block([list(blocks[i * nb : (i + 1) * nb]) for i in range(nb)])


@task
def tall_block(seed: int, i: int, rows: int, cols: int):
    return np.random.default_rng([seed, i]).standard_normal((rows, cols))


@task
def qr_r(a):
    """R of a block's QR (the tall-skinny QR's first pass keeps only R)."""
    return np.linalg.qr(a, mode="r")


@task
def stack_qr_r(rs):
    return np.linalg.qr(np.vstack(list(rs)), mode="r")


@task
def svd_of_r(r):
    """Singular values of A from the R of its tall-skinny QR (A = QR → σ(A) = σ(R))."""
    return np.linalg.svd(r, compute_uv=False)


def _count(tag: str) -> None:
    if tag:
        from store.redis_client import get_redis

        get_redis().incr(f"sf:bench:count:{tag}")


@task
def slow_add(a, b, seconds: float, tag: str = ""):
    """a + b after ``seconds`` (counted under ``tag``: bench failures counts executions)."""
    import time

    _count(tag)
    time.sleep(seconds)
    return a + b


@task
def slow_blob(seed: int, mb: float, seconds: float):
    """``mb`` MB of deterministic bytes after ``seconds`` (a fan-out task whose output lives in shared memory)."""
    import time

    time.sleep(seconds)
    return np.random.default_rng(int(seed)).integers(0, 256, size=int(mb * (1 << 20)), dtype=np.uint8)


@task
def digest_all(arrays, tag: str = "") -> str:
    """The SHA-256 of every input's bytes in order (counted under ``tag``: how many times the sink ran)."""
    import hashlib

    _count(tag)
    h = hashlib.sha256()
    for a in arrays:
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


@task
def hang(x, seconds: float = 3600.0, tag: str = ""):
    """Sleeps (almost) forever unless stopped."""
    import time

    _count(tag)
    time.sleep(seconds)
    return x


# --- the WfCommons family (experiments.bench.wfcommons) ---------------------------------------------------


def _digest(key: int, inputs) -> int:
    """A 64-bit checksum of ``key`` and every input's bytes (each read whole: as a 64-bit word sum)."""
    import hashlib

    h = hashlib.blake2b(str(key).encode(), digest_size=8)
    for data in inputs or ():
        buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        words = buf[: buf.size // 8 * 8].view(np.uint64)
        h.update(int(words.sum(dtype=np.uint64)).to_bytes(8, "little"))
        h.update(buf[buf.size // 8 * 8 :].tobytes() + buf.size.to_bytes(8, "little"))
    return int.from_bytes(h.digest(), "little")


def _busy(seconds: float) -> None:
    """Burn ``seconds`` of this thread's CPU time (a recipe task's compute)."""
    import time

    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for _ in range(2000):
            x += 1


@task
def wf_task(key: int, busy_s: float, out_bytes: int, inputs: list):
    """A WfCommons job: checksum every input, compute for ``busy_s`` CPU-seconds, return ``out_bytes``
    of data derived from the checksum (a numpy uint8 array)."""
    seed = _digest(key, inputs)
    _busy(busy_s)
    block = np.random.default_rng(seed).integers(0, 256, size=min(out_bytes, 1 << 16), dtype=np.uint8)
    return np.resize(block, out_bytes)


@task
def wf_collect(outputs: list) -> str:
    """The digest of the exit jobs' outputs: equal only if every byte of the run's data flow was."""
    return f"{_digest(-1, outputs):016x}"


# The suite (``bench calibration --suite``): one task function per job category of a recipe, as a real
# workflow runs one program per category — history and predictions are per function. ``wf_kind0`` …
# ``wf_kind{KINDS - 1}`` all do what ``wf_task`` does; a recipe's categories map onto them in sorted order.
KINDS = 16


def _kind(k: int):
    def fn(key: int, busy_s: float, out_bytes: int, inputs: list):
        return wf_task.fn(key, busy_s, out_bytes, inputs)

    fn.__name__ = fn.__qualname__ = f"wf_kind{k}"
    fn.__module__ = __name__
    fn.__doc__ = f"A WfCommons job of the suite's category {k} (see ``wf_task``)."
    return task(fn)


for _k in range(KINDS):
    globals()[f"wf_kind{_k}"] = _kind(_k)
del _k


@task
def dialed(x: int, busy_s: float) -> int:
    """Burn ``busy_s`` CPU-seconds times the slow-down dial (``store.keys.bench_slowdown``, 1 unless set):
    ``bench rescue``'s injected slow-down."""
    from store import keys
    from store.redis_client import get_redis

    _busy(busy_s * float(get_redis().get(keys.bench_slowdown()) or 1.0))
    return x + 1
