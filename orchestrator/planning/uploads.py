"""Whether a task's output goes to Redis: one rule, for the timing model and the runtime.

An output travels only when some consumer may run in another branch:

* a planned task uploads when a consumer lives on another logical worker (or
  is flexible), or on its own worker but in a new branch of it (the plan
  starts it after a start-up: another process may take it);
* a flexible task uploads unless its only consumer is flexible and has no
  other input: the branch that finishes the task always continues with that
  child itself (WUKONG's "keep one child"); any other child may be run by
  another executor, or claimed by whoever finishes its last input.

The sink's output always leaves it: it is stored as the run's result (in the
database, not in Redis). The planner records the decision per task (``TaskPlan.upload``), the
compact plan carries it to the workers (``u``), and the runtime's
``PlanUploads`` hook answers the should-upload stage from it.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple


class Consumer(NamedTuple):
    worker: str | int | None  # logical worker, None = flexible
    new_branch: bool  # planned to begin a new branch of its worker
    inputs: int  # how many inputs it has


def uploads(worker: str | int | None, consumers: Iterable[Consumer]) -> bool:
    consumers = list(consumers)
    if not consumers:
        return True  # the sink: its result is stored (in the database)
    if worker is None:
        return not (len(consumers) == 1 and consumers[0].worker is None and consumers[0].inputs == 1)
    return any(c.worker is None or c.worker != worker or c.new_branch for c in consumers)
