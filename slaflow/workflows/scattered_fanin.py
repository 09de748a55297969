"""scattered_fanin: a fan-in whose big inputs come from several workers at different times (PreLoad).

              origin                  (root: the seed)
        ┌──────┼───────┐
      make    make … make             (width tasks: `work_s` + i·`stagger_s` of work, then `size_mb` MB)
        └──────┼───────┘
              merge                   (element-wise sum's checksum)

Each producer is long enough to get a worker of its own, and they finish one
after another: a consumer that fetches its inputs only when it starts waits
for every download at the end; with PreLoad its worker has fetched the early
ones while its own producer was still running. Tasks: width + 2; at the
defaults (width=4): 4 + 2 = 6. ``check`` recomputes the checksum.
"""

import time

import numpy as np

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"width": 4, "size_mb": 16, "work_s": 0.6, "stagger_s": 0.3, "seed": 3}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"width": 1000, "size_mb": 256, "work_s": 60.0, "stagger_s": 60.0, "seed": 2**32}


@task
def origin(seed: int) -> int:
    return seed


def _array(seed: int, index: int, size_mb: int) -> np.ndarray:
    return np.random.default_rng(seed * 1000 + index).standard_normal(size_mb * (1 << 20) // 8)


@task
def make(seed: int, index: int, size_mb: int, work_s: float, stagger_s: float) -> np.ndarray:
    time.sleep(work_s + index * stagger_s)
    return _array(seed, index, size_mb)


@task
def merge(arrays: list) -> float:
    total = np.zeros_like(arrays[0])
    for a in arrays:
        total += a
    return round(float(total[::991].sum()), 6)


def build(width: int = 4, size_mb: int = 16, work_s: float = 0.6, stagger_s: float = 0.3, seed: int = 3):
    if width < 2 or size_mb < 1 or work_s < 0 or stagger_s < 0:
        raise ValueError(
            f"scattered_fanin needs width ≥ 2, size_mb ≥ 1, work_s and stagger_s ≥ 0, "
            f"got width={width} size_mb={size_mb} work_s={work_s} stagger_s={stagger_s}"
        )
    root = origin(seed)
    return merge([make(root, i, size_mb, work_s, stagger_s) for i in range(width)])


def check(result, width: int = 4, size_mb: int = 16, seed: int = 3, **_) -> bool:
    total = sum(_array(seed, i, size_mb) for i in range(width))
    return isinstance(result, float) and abs(result - round(float(total[::991].sum()), 6)) < 1e-6


register(
    LibraryWorkflow(
        "scattered_fanin",
        "a fan-in of big inputs arriving from several workers one after another (PreLoad)",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
