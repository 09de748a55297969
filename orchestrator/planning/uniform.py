"""Uniform: one configuration for every task, logical workers assigned with predictions.

See ``assign`` for the worker rules (critical-path aware) and ``evaluate``
for the timing model and the Monte Carlo promise. Without history the run
falls back to flexible workers on the default configuration, and says so. The plan is
kept only when the WUKONG run on the same model is not better (``guard``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.core.graph import Graph
from orchestrator.planning import guard
from orchestrator.planning.evaluate import Planning, plan_or_fallback
from orchestrator.planning.plan import Plan
from orchestrator.planning.predictor import Predictor

if TYPE_CHECKING:
    from orchestrator.planning.config import PlannerConfig


def plan(graph: Graph, predictor: Predictor | None, config: PlannerConfig) -> Plan:
    memory_mb = config.default_memory_mb

    def make(s: Planning) -> Plan:
        worker = s.assign_workers(memory_mb)
        n_workers = max(worker) + 1
        ev = s.evaluate(worker, [memory_mb] * n_workers)
        return guard.choose(s, s.to_plan(ev, worker, f"uniform: {n_workers} logical workers on {memory_mb} MB"))

    return plan_or_fallback(graph, predictor, config, memory_mb, make)
