"""stream_pipeline: a generator producer feeding a streaming consumer (generator streaming).

       origin              (root: the seed)
         |
       frames              (a generator task: `frames` arrays of `size_kb` KB, one every `frame_s`)
       /    \\
    digest  count          (digest: `work_s` of work per frame, then a checksum of it — declared
       \\    /               streaming when `streaming` is 1, so it works on each frame as it comes;
       summary              count: the number of frames, from the whole list)

With streaming the digest overlaps the generator: it finishes about one
frame after it instead of after all of it plus its own work. Tasks: 1 + 1 + 2 + 1 = 5.
``check`` recomputes the checksums.
"""

import time

import numpy as np

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"frames": 8, "size_kb": 256, "frame_s": 0.15, "work_s": 0.15, "streaming": 1, "seed": 11}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"frames": 1000, "size_kb": 256 * 1024, "frame_s": 60.0, "work_s": 60.0, "streaming": 1, "seed": 2**32}
# Task parameters named unlike the workflow's, bounded alike when a JSON spec calls the task (functions.check_bounds).
TASK_BOUNDS = {"count": BOUNDS["frames"]}


def _frame(seed: int, i: int, size_kb: int) -> np.ndarray:
    return np.random.default_rng(seed * 1000 + i).standard_normal(size_kb * 1024 // 8)


@task
def origin(seed: int) -> int:
    return seed


@task
def frames(seed: int, count: int, size_kb: int, frame_s: float):
    for i in range(count):
        time.sleep(frame_s)
        yield _frame(seed, i, size_kb)


def _digest(items, work_s: float) -> float:
    total = 0.0
    for frame in items:
        time.sleep(work_s)
        total += float(frame[::101].sum())
    return round(total, 6)


@task(streaming=True)
def digest_stream(items, work_s: float) -> float:
    return _digest(items, work_s)


@task
def digest_all(items, work_s: float) -> float:
    return _digest(items, work_s)


@task
def count(items) -> int:
    return len(items)


@task
def summary(total: float, n: int) -> list:
    return [total, n]


def build(
    frames: int = 8, size_kb: int = 256, frame_s: float = 0.15, work_s: float = 0.15, streaming: int = 1, seed: int = 11
):
    if frames < 1 or size_kb < 1 or frame_s < 0 or work_s < 0 or streaming not in (0, 1):
        raise ValueError(
            f"stream_pipeline needs frames ≥ 1, size_kb ≥ 1, frame_s and work_s ≥ 0 and streaming "
            f"0 or 1, got frames={frames} size_kb={size_kb} frame_s={frame_s} work_s={work_s} "
            f"streaming={streaming}"
        )
    made = globals()["frames"](origin(seed), frames, size_kb, frame_s)
    digest = digest_stream if streaming else digest_all
    return summary(digest(made, work_s), count(made))


def check(result, frames: int = 8, size_kb: int = 256, seed: int = 11, **_) -> bool:
    expected = round(sum(float(_frame(seed, i, size_kb)[::101].sum()) for i in range(frames)), 6)
    return isinstance(result, list) and abs(result[0] - expected) < 1e-6 and result[1] == frames


register(
    LibraryWorkflow(
        "stream_pipeline",
        "a generator feeding a streaming consumer (generator streaming)",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
