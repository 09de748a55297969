"""straggler: a fan-in one of whose upstreams is sometimes slow (the TaskDup scenario).

              origin                  (root: a fresh token per run)
        ┌──────┼───────┐
     produce produce … produce        (width tasks: small input, big output — `size_mb` MB of floats
        └──────┼───────┘               from seed i, after `work_s` of work)
             combine                  (a checksum over every array)

Producer ``slow`` straggles: with probability ``chance`` per run, its first
execution in the run sleeps ``straggle_s`` more, as on a slow node (a second
execution of it, a duplicate, is not slow). Tasks: width + 2; at the defaults
(width=6): 6 + 2 = 8. ``check`` recomputes the checksum.
"""

import hashlib
import time
import uuid

import numpy as np

from orchestrator.core import once
from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"width": 6, "size_mb": 4, "work_s": 0.3, "slow": 1, "straggle_s": 3.0, "chance": 1.0}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"width": 1000, "size_mb": 256, "work_s": 60.0, "slow": 1000, "straggle_s": 60.0, "chance": 1.0}


@task
def origin() -> str:
    return uuid.uuid4().hex


def _array(seed: int, size_mb: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(size_mb * (1 << 20) // 8)


def _straggles(token: str, index: int, chance: float) -> bool:
    """This run's straggler, on its first execution only (once per run and task, cluster-wide:
    ``orchestrator.core.once``)."""
    draw = int(hashlib.sha256(token.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if draw >= chance:
        return False
    return once.first(f"straggler:{token}:{index}", ttl_s=3600)


@task
def produce(
    token: str, index: int, size_mb: int, work_s: float, slow: int, straggle_s: float, chance: float
) -> np.ndarray:
    time.sleep(work_s)
    if index == slow and _straggles(token, index, chance):
        time.sleep(straggle_s)
    return _array(index, size_mb)


@task
def combine(arrays: list) -> float:
    return round(float(sum(float(a[::997].sum()) for a in arrays)), 6)


def build(
    width: int = 6, size_mb: int = 4, work_s: float = 0.3, slow: int = 1, straggle_s: float = 3.0, chance: float = 1.0
):
    if width < 2 or size_mb < 1 or work_s < 0 or straggle_s < 0 or not 0 <= chance <= 1 or not 0 <= slow < width:
        raise ValueError(
            f"straggler needs width ≥ 2, size_mb ≥ 1, work_s and straggle_s ≥ 0, 0 ≤ chance ≤ 1 "
            f"and 0 ≤ slow < width, got width={width} size_mb={size_mb} work_s={work_s} "
            f"straggle_s={straggle_s} chance={chance} slow={slow}"
        )
    token = origin()
    return combine([produce(token, i, size_mb, work_s, slow, straggle_s, chance) for i in range(width)])


def check(result, width: int = 6, size_mb: int = 4, **_) -> bool:
    expected = round(float(sum(float(_array(i, size_mb)[::997].sum()) for i in range(width))), 6)
    return isinstance(result, float) and abs(result - expected) < 1e-6


register(
    LibraryWorkflow(
        "straggler",
        "a fan-in of big-output producers, one of which is sometimes slow (TaskDup)",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
