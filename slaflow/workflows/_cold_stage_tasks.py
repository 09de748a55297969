"""The tasks of ``cold_stage``, in a module of their own because importing it is slow on purpose.

Importing builds a small scoring model (real work, about a second of CPU), as
importing a machine-learning library or loading a model file does: a pool
process pays it the first time it resolves one of these functions — at a cold
start-up, unless a pre-warm ping has had it done already. ``cold_stage``
imports this module only when it builds the graph.
"""

import time

import numpy as np

from orchestrator.core.authoring import task


def _build_model() -> np.ndarray:
    rng = np.random.default_rng(7)
    m = rng.standard_normal((400, 400))
    for _ in range(4):  # rounds of "training" (single-threaded sorts): enough work to be felt at start-up
        order = np.argsort(rng.standard_normal(1 << 21))
        m = np.tanh(m + order[: 400 * 400].reshape(400, 400) / float(1 << 21))
    return m[:, :8].copy()


MODEL = _build_model()


@task
def origin(seed: int) -> int:
    return seed


@task
def prepare(value: int, step_s: float) -> int:
    time.sleep(step_s)
    return value + 1


@task
def score(value: int, index: int, work_s: float) -> float:
    time.sleep(work_s)
    features = np.random.default_rng(value * 100 + index).standard_normal(400)
    return round(float((features @ MODEL).sum()), 6)


@task
def gather(scores: list) -> float:
    return round(float(sum(scores)), 6)
