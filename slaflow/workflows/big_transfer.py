"""big_transfer: a big output read on two workers (output streaming).

             origin                (root: the seed)
               |
            produce                (`size_mb` MB of floats, after `work_s` of work)
            /     \\
        consume  consume           (each: `consume_s` of work, then a checksum of its half)
            \\     /
             gather

The two consumers are worth running in parallel, so one of them runs on
another worker and the big output travels to it: without streaming, that
consumer's input is ready after the upload, its dispatch and the download;
with streaming it is dispatched first and reads the chunks while they are
written. Tasks: 1 + 1 + 2 + 1 = 5. ``check`` recomputes both checksums.
"""

import time

import numpy as np

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"size_mb": 64, "work_s": 0.3, "consume_s": 1.0, "seed": 5}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"size_mb": 256, "work_s": 60.0, "consume_s": 60.0, "seed": 2**32}


def _array(seed: int, size_mb: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(size_mb * (1 << 20) // 8)


def _checksum(values: np.ndarray, half: int) -> float:
    part = values[: len(values) // 2] if half == 0 else values[len(values) // 2 :]
    return float(part[::1013].sum())


@task
def origin(seed: int) -> int:
    return seed


@task
def produce(seed: int, size_mb: int, work_s: float) -> np.ndarray:
    time.sleep(work_s)
    return _array(seed, size_mb)


@task
def consume(values: np.ndarray, half: int, work_s: float) -> float:
    time.sleep(work_s)
    return _checksum(values, half)


@task
def gather(parts: list) -> float:
    return round(sum(parts), 6)


def build(size_mb: int = 64, work_s: float = 0.3, consume_s: float = 1.0, seed: int = 5):
    if size_mb < 1 or work_s < 0 or consume_s < 0:
        raise ValueError(
            f"big_transfer needs size_mb ≥ 1, work_s ≥ 0 and consume_s ≥ 0, got size_mb={size_mb} "
            f"work_s={work_s} consume_s={consume_s}"
        )
    values = produce(origin(seed), size_mb, work_s)
    return gather([consume(values, half, consume_s) for half in (0, 1)])


def check(result, size_mb: int = 64, seed: int = 5, **_) -> bool:
    values = _array(seed, size_mb)
    expected = round(_checksum(values, 0) + _checksum(values, 1), 6)
    return isinstance(result, float) and abs(result - expected) < 1e-6


register(
    LibraryWorkflow(
        "big_transfer", "a big output read on two workers (output streaming)", build, check, dict(DEFAULTS), BOUNDS
    )
)
