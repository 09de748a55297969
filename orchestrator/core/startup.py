"""Start-up kinds: the one vocabulary for how a branch's process gets ready for its first task.

A branch (a run of consecutive tasks of one logical worker in one process) begins with a start-up.
The planner, the plan, the history it learns from and the optimizations speak of three **kinds**:

* ``warm`` — a process that served this workflow within the keep-alive window (or was pre-warmed
  for it) takes the branch: nothing to load again;
* ``cold`` — an existing process that has not (it reloads the run's graph and code and reconnects);
* ``new``  — a process the pool has to spawn first: a cold start plus the spawn.

``cold`` and ``new`` are both *cold* (``is_cold``): what PreWarm targets, what the run's summary counts
as cold starts. A task that does not begin a branch has ``NONE`` (it continues one); a plan that
predates start-up kinds has ``UNKNOWN``.

A worker records *why* a start-up was what it was (``WorkerStartup.reason``, ``workers.context``):
one of the ``REASONS`` below; ``kind_of`` maps a reason to its kind (what the history learns from).
"""

from __future__ import annotations

WARM, COLD, NEW = "warm", "cold", "new"
KINDS = (WARM, COLD, NEW)  # what the planner models (``planning.history`` samples per kind)
COLD_KINDS = frozenset({COLD, NEW})
NONE = "none"  # the task continues a branch: no start-up of its own
UNKNOWN = "unknown"  # a plan or record that does not say

# Why a process was (not) ready, as a worker records it.
NEW_PROCESS = "new-process"  # the pool's process serves its first branch ever
FIRST_TIME = "first-time"  # an existing process, never served this workflow
IDLE = "idle"  # served it, but longer ago than the keep-alive window
REUSED = "warm"  # served it within the keep-alive window
PREWARMED = "prewarmed"  # a pre-warm ping readied it for this workflow
REASONS = {NEW_PROCESS: NEW, FIRST_TIME: COLD, IDLE: COLD, REUSED: WARM, PREWARMED: WARM}


def kind_of(reason: str) -> str:
    """The start-up kind of a recorded reason (an unknown or empty reason counts as cold)."""
    return REASONS.get(reason, COLD)


def is_cold(kind: str) -> bool:
    """Whether a start-up of this kind loads everything again (``cold`` or ``new``)."""
    return kind in COLD_KINDS


def begins_branch(kind: str) -> bool:
    """Whether a task planned with this start-up begins a branch (has a start-up of its own)."""
    return kind in KINDS
