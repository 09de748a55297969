"""cold_stage: a long first stage, then a wide stage whose processes have gone cold (PreWarm).

             origin                   (root: the seed)
               │
            prepare                   (length steps of `step_s` each: one worker, twice the
               │                       keep-alive window, so the pool retires its idle processes)
            prepare …
        ┌──────┼──────┐
      score  score … score            (width tasks of `work_s`, each on a worker of its own: they
        └──────┼──────┘                need processes that load the scoring model first)
            gather                    (the scores' sum)

The scoring tasks live in ``_cold_stage_tasks``, whose import takes real work
(a model is built): a branch that starts on a new or idle process pays it,
unless a pre-warm ping sent during the first stage has had it paid already.
Tasks: length + width + 2; at the defaults (length=7, width=3): 7 + 3 + 2 = 12.
``check`` recomputes the scores.
"""

import importlib

from slaflow.workflows import LibraryWorkflow, register

DEFAULTS = {"length": 7, "step_s": 2.0, "width": 3, "work_s": 1.0, "seed": 5}
# Each parameter's largest value (LibraryWorkflow.bounds).
BOUNDS = {"length": 1000, "step_s": 60.0, "width": 1000, "work_s": 60.0, "seed": 2**32}


def _tasks():
    return importlib.import_module("slaflow.workflows._cold_stage_tasks")


def build(length: int = 7, step_s: float = 2.0, width: int = 3, work_s: float = 1.0, seed: int = 5):
    if length < 1 or width < 1 or step_s < 0 or work_s < 0:
        raise ValueError(
            f"cold_stage needs length, width ≥ 1 and step_s, work_s ≥ 0, "
            f"got length={length} width={width} step_s={step_s} work_s={work_s}"
        )
    t = _tasks()
    node = t.origin(seed)
    for _ in range(length):
        node = t.prepare(node, step_s)
    return t.gather([t.score(node, i, work_s) for i in range(width)])


def check(result, length: int = 7, width: int = 3, seed: int = 5, **_) -> bool:
    import numpy as np

    t = _tasks()
    value = seed + length
    expected = sum(
        round(float((np.random.default_rng(value * 100 + i).standard_normal(400) @ t.MODEL).sum()), 6)
        for i in range(width)
    )
    return isinstance(result, float) and abs(result - round(expected, 6)) < 1e-6


register(
    LibraryWorkflow(
        "cold_stage",
        "a long single-worker stage, then a wide stage on processes gone cold (PreWarm)",
        build,
        check,
        dict(DEFAULTS),
        BOUNDS,
    )
)
