"""What a planner asks of the optimizations' rules — handed in, never imported.

The optimizations' rules (``orchestrator.optimizations``) are a layer *above*
planning: each rule judges a plan with the planning layer's model (history,
predictions, the tiers), so it imports planning, and planning cannot import
it back without a circle. Yet a planner applies the rules in the middle of
its work: ``Planning.to_plan`` evaluates the plan again with what the chosen
optimizations change (``planning.effects``) before the guard compares it with
the flexible run, and WUKONG's planner annotates its flexible plan.

So the rules come in as data, like history does: ``PlannerConfig.rules`` is
any object with the two functions below (``Rules``); services pass the rules
layer itself (``orchestrator.services.planning.planner_config``), a test may
pass a stub. A planner only calls ``annotate`` here, which asks nothing of the
rules when the config names no optimization and no author forced one — a
plan then comes out exactly as it would with no rules at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.core.graph import Graph

if TYPE_CHECKING:
    from orchestrator.planning.plan import Plan
    from orchestrator.planning.predictor import Predictor


class Rules(Protocol):
    """The optimizations' rules as a planner sees them (``orchestrator.optimizations`` is one)."""

    def annotate(
        self,
        plan: Plan,
        graph: Graph,
        predictor: Predictor | None,
        *,
        names: tuple[str, ...],
        params: dict[str, dict],
        flexible: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """node → {optimization: parameters}: each named rule's choices, then what authors forced."""

    def summary(self, annotations: dict[str, dict]) -> str:
        """The annotations in a few words, for the plan's note."""


class Asked(Protocol):
    """What the functions below read of a ``PlannerConfig`` (which holds the ``Rules``, so this module
    names the fields it reads rather than import it back)."""

    @property
    def optimizations(self) -> tuple[str, ...]: ...

    @property
    def optimization_params(self) -> dict: ...

    @property
    def rules(self) -> Rules | None: ...


def forced(graph: Graph) -> bool:
    """Whether an author forced an optimization on some task (``@task(optimizations=[...])``)."""
    return any(node.options_dict.get("optimizations") for node in graph.values())


def annotate(
    config: Asked, plan: Plan, graph: Graph, predictor: Predictor | None, *, flexible: bool = False
) -> dict[str, dict[str, Any]]:
    """The optimizations ``config`` applies to ``plan`` by rule and those authors forced (empty when
    there are none: the rules are not asked); ``flexible``: a plan of flexible workers only."""
    if not config.optimizations and not forced(graph):
        return {}
    if config.rules is None:
        raise ValueError(
            "optimizations are asked for (by the planner or forced on a task) but no rules were "
            "handed in: PlannerConfig(rules=orchestrator.optimizations)"
        )
    return config.rules.annotate(
        plan, graph, predictor, names=tuple(config.optimizations), params=config.optimization_params, flexible=flexible
    )


def note(config: Asked, annotations: dict[str, dict]) -> str:
    """What the plan's note says about ``annotations`` (non-empty: they came from ``config.rules``)."""
    assert config.rules is not None, "annotations come only from config.rules"
    return config.rules.summary(annotations)
