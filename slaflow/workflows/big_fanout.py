"""big_fanout: a big output read by many cheap children (task clustering and delayed I/O).

           make            side          (make: `size_mb` MB of floats from `seed`; side: `side_s` of
     ┌──┬──┼──┬──┐   ┌─────┘             waiting, then a small number)
   part part … part  join                (width parts: the checksum of one slice; join: make's checksum
     └──┴──┼──┴──┘───┘                    offset by side's number)
         total                            (sums them)

Under ``wukong`` the big array goes to Redis and every child that runs on
another executor downloads and decodes it; under ``wukong-opt`` make's worker
runs its children itself (task clustering) and, since `join` also waits for
`side`, holds the upload back until `side` is done (delayed I/O), so the array
is never written. Tasks: width + 4; at the defaults (width=6): 6 + 4 = 10.
``check`` recomputes the total.
"""

import time

import numpy as np

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"width": 6, "size_mb": 32, "side_s": 0.15, "seed": 7}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"width": 1000, "size_mb": 256, "side_s": 60.0, "seed": 2**32}


def _array(seed: int, size_mb: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(size_mb * (1 << 20) // 8)


def _checksum(values: np.ndarray) -> float:
    return float(values[::1009].sum())


@task
def make(seed: int, size_mb: int) -> np.ndarray:
    return _array(seed, size_mb)


@task
def side(seed: int, side_s: float) -> float:
    time.sleep(side_s)
    return float(seed)


@task
def part(values: np.ndarray, index: int, width: int) -> float:
    step = len(values) // width
    return _checksum(values[index * step : (index + 1) * step])


@task
def join(values: np.ndarray, offset: float) -> float:
    return _checksum(values) + offset


@task
def total(parts: list, joined: float) -> float:
    return round(sum(parts) + joined, 6)


def build(width: int = 6, size_mb: int = 32, side_s: float = 0.15, seed: int = 7):
    if width < 1 or size_mb < 1 or side_s < 0:
        raise ValueError(
            f"big_fanout needs width ≥ 1, size_mb ≥ 1 and side_s ≥ 0, "
            f"got width={width} size_mb={size_mb} side_s={side_s}"
        )
    values = make(seed, size_mb)
    return total([part(values, i, width) for i in range(width)], join(values, side(seed, side_s)))


def check(result, width: int = 6, size_mb: int = 32, seed: int = 7, **_) -> bool:
    values = _array(seed, size_mb)
    step = len(values) // width
    expected = sum(_checksum(values[i * step : (i + 1) * step]) for i in range(width)) + _checksum(values) + seed
    return isinstance(result, float) and abs(result - round(expected, 6)) < 1e-6


register(
    LibraryWorkflow(
        "big_fanout",
        "a big output read by many cheap children (task clustering, delayed I/O)",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
