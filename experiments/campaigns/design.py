"""A campaign's arguments, checked before anything runs, and its schedule (pure: no I/O).

    >>> c = parse(workflows=["diamond"], planners=["wukong"], slas=["p90"], iterations=2, warmup=1, seed=7)
    >>> [(s.workflow, s.planner, s.sla, s.iteration, s.warmup) for s in schedule(c)]  # doctest: +NORMALIZE_WHITESPACE
    [('diamond', 'wukong', 'p90', 1, True), ('diamond', 'wukong', 'p90', 1, False),
     ('diamond', 'wukong', 'p90', 2, False)]

Warm-up runs (per workflow × planner, at the campaign's first SLA) come first:
they build the history the planners learn from and are kept apart from the
results. The measured runs follow in an order shuffled by the seed, so that
drift on the machine does not line up with one planner or SLA.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from orchestrator import planning
from orchestrator.core import sla as sla_mod
from slaflow import workflows as library

MAX_RUNS = 100_000
# A campaign's arguments besides its parameters, as the command line and the manifest both name them.
ARGUMENTS = ("workflows", "planners", "slas", "iterations", "warmup", "seed")


class CampaignError(ValueError):
    """Arguments a campaign cannot run with; the message names the problem."""


@dataclass(frozen=True)
class Campaign:
    workflows: tuple[str, ...]
    planners: tuple[str, ...]
    slas: tuple[str, ...]
    iterations: int
    warmup: int
    seed: int
    params: dict[str, dict] = field(default_factory=dict)  # workflow → coerced parameters

    def as_json(self) -> dict:
        return {
            "workflows": list(self.workflows),
            "planners": list(self.planners),
            "slas": list(self.slas),
            "iterations": self.iterations,
            "warmup": self.warmup,
            "seed": self.seed,
            "params": self.params,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Campaign":
        return parse(
            **{name: data[name] for name in ARGUMENTS},
            params={w: dict(p) for w, p in (data.get("params") or {}).items()},
        )


@dataclass(frozen=True)
class Slot:
    workflow: str
    params: dict
    planner: str
    sla: str
    iteration: int
    warmup: bool


def parse_params(items: list[str]) -> dict[str, dict[str, str]]:
    """``WORKFLOW:key=value[,key=value]`` items → {workflow: {key: value}}; a comma before another
    ``WORKFLOW:`` starts its item (``a:n=1,b:m=2``), as spaces do."""
    out: dict[str, dict[str, str]] = {}
    for item in _workflow_items(items or []):
        name, sep, pairs = item.partition(":")
        if not sep or not name:
            raise CampaignError(f"--params {item!r} must read WORKFLOW:key=value[,key=value]")
        for pair in pairs.split(","):
            key, eq, value = pair.partition("=")
            if not eq or not key.strip():
                raise CampaignError(f"--params {item!r}: {pair!r} is not key=value")
            out.setdefault(name.strip(), {})[key.strip()] = value.strip()
    return out


def _workflow_items(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        for piece in item.split(","):
            if ":" in piece.partition("=")[0] or not out:
                out.append(piece)
            else:
                out[-1] += "," + piece
    return out


def parse(
    *, workflows, planners, slas, iterations: int, warmup: int, seed: int, params: dict[str, dict] | None = None
) -> Campaign:
    """Check everything a campaign needs; raise CampaignError naming the first problem."""
    if not workflows:
        raise CampaignError("name at least one workflow (--workflows)")
    known = library.all_workflows()
    for name in workflows:
        if name not in known:
            raise CampaignError(f"unknown workflow {name!r} (library: {', '.join(known)})")
    if not planners:
        raise CampaignError("name at least one planner (--planners)")
    for planner in planners:
        try:
            planning.get(planner)
        except planning.PlannerError as exc:
            raise CampaignError(str(exc)) from None
    if not slas:
        raise CampaignError("name at least one SLA (--slas), e.g. p50 p90")
    normal = []
    for text in slas:
        try:
            normal.append(str(sla_mod.parse(text)))
        except sla_mod.SLAError as exc:
            raise CampaignError(f"SLA {text!r}: {exc}") from None
    if not isinstance(iterations, int) or iterations < 1:
        raise CampaignError(f"--iterations must be at least 1, got {iterations!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise CampaignError(f"--warmup must be 0 or more, got {warmup!r}")
    coerced = {}
    for name, raw in (params or {}).items():
        if name not in workflows:
            raise CampaignError(f"--params names {name!r}, which is not among the campaign's workflows")
        try:
            coerced[name] = known[name].coerce(raw)
        except ValueError as exc:
            raise CampaignError(f"--params for {name}: {exc}") from None
    for name in workflows:
        coerced.setdefault(name, dict(known[name].params))
    campaign = Campaign(
        tuple(dict.fromkeys(workflows)),
        tuple(dict.fromkeys(planners)),
        tuple(dict.fromkeys(normal)),
        iterations,
        warmup,
        int(seed),
        coerced,
    )
    total = run_count(campaign)
    if total > MAX_RUNS:
        raise CampaignError(f"the campaign would make {total} runs, more than {MAX_RUNS}")
    return campaign


def run_count(campaign: Campaign) -> int:
    """How many runs ``schedule`` makes, counted without making them (a form may ask for 10^5).

    >>> run_count(parse(workflows=["diamond"], planners=["wukong"], slas=["p50", "p90"], iterations=3,
    ...                 warmup=2, seed=0))
    8
    """
    c = campaign
    pairs = len(c.workflows) * len(c.planners)
    return pairs * c.warmup + pairs * len(c.slas) * c.iterations


def schedule(campaign: Campaign) -> list[Slot]:
    """Warm-ups, then the measured runs shuffled by the seed."""
    c = campaign
    warm = [
        Slot(w, c.params.get(w, {}), p, c.slas[0], k + 1, True)
        for w in c.workflows
        for p in c.planners
        for k in range(c.warmup)
    ]
    measured = [
        Slot(w, c.params.get(w, {}), p, s, k + 1, False)
        for w in c.workflows
        for p in c.planners
        for s in c.slas
        for k in range(c.iterations)
    ]
    rng = random.Random(c.seed)
    rng.shuffle(warm)
    rng.shuffle(measured)
    return warm + measured
