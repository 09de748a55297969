"""What optimizations change in the timing model, as plain data over task positions.

* ``preload`` — tasks whose worker fetches their remote inputs as soon as each
  exists (PreLoad): those downloads overlap the worker's earlier work instead
  of following the task's start.
* ``prewarm`` — first tasks of branches a pre-warm ping targets (PreWarm), with
  the chance that it makes the start-up warm (the measured hit rate).

TaskDup is not modelled: it trims the tail of slow runs, which calibration
(residuals of past runs) already learns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from orchestrator.planning.dag import Dag


@dataclass(frozen=True)
class Effects:
    preload: frozenset[int] = frozenset()
    prewarm: dict[int, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.preload or self.prewarm)

    @classmethod
    def of(cls, dag: Dag, annotations: Mapping[str, dict], hit_rate: float) -> "Effects":
        """From a plan's annotations (node id → {optimization: parameters})."""
        position = {nid: i for i, nid in enumerate(dag.ids)}
        preload = frozenset(position[n] for n, a in annotations.items() if "preload" in a and n in position)
        prewarm = {position[n]: hit_rate for n, a in annotations.items() if "prewarm" in a and n in position}
        return cls(preload, prewarm)


NONE = Effects()
