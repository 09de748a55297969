"""``bench optimizations``: each optimization on against off, same workflow, side by side.

    scenario         optimization    metric (median)                        target
    straggler        TaskDup         makespan                               cut ≥ 25 %
    scattered_fanin  PreLoad         the fan-in's input wait                cut ≥ 50 %
    cold_stage       PreWarm         pings whose target started warm        ≥ 80 %
                                     makespan                               cut (any)
    big_fanout       clustering      bytes written to Redis                 cut ≥ 50 %
                     (wukong-opt)    makespan                               cut ≥ 20 %
    tree_reduction   wukong-opt      makespan                               no more than 5 % slower
                                     share of runs within its promise       90 % ± 10 points (p90 SLA)
    big_transfer     streaming       remote consumer's input ready, after   cut ≥ 30 %
                                     the producer's function returned
    stream_pipeline  generator       the consumer's end after the           cut ≥ 50 %
                     streaming       generator's; makespan                  cut (any)
    tree_reduction,  uniform-opt,    makespan, -opt against plain           no more than 5 % slower
    text_analysis    non-uniform-opt share of -opt runs within the promise  90 % ± 10 points (p90 SLA)

"Off" is the plain planner; "on" is the same planner applying only the
optimization under test by rule (``submit_run(optimizations=[...])``), or the
``-opt`` planner for the last rows. Warm-up runs (both variants) first give
the planner history; then on and off alternate, the order flipping every
pair, so that drift on a noisy machine falls on both alike. Medians and
ranges are over the measured runs only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Callable

from experiments import runner
from orchestrator.models import TaskRun, WorkflowRun

SLA = "p90"


@dataclass(frozen=True)
class Variant:
    planner: str
    optimizations: tuple[str, ...] | None  # None: the planner's own
    params: dict = field(default_factory=dict)  # workflow parameters of this variant (over the scenario's)


@dataclass(frozen=True)
class Metric:
    name: str
    measure: Callable[[list[int]], list[float]]  # run ids → one value per run (or a single aggregate)
    target_pct: float
    met: Callable[[float | None, float | None, float | None], bool]  # (off, on, change_pct)
    aggregate: bool = False  # one value over all runs (a share) instead of a median


@dataclass(frozen=True)
class Scenario:
    name: str
    workflow: str
    optimization: str
    off: Variant
    on: Variant
    metrics: tuple[Metric, ...]
    params: dict = field(default_factory=dict)
    min_runs: int = 0  # measured runs at least (a share needs more than a median)


def _makespans(ids: list[int]) -> list[float]:
    got = dict(WorkflowRun.objects.filter(pk__in=ids).values_list("pk", "makespan_s"))
    return [float(got[i]) for i in ids if got.get(i) is not None]


def _sink_input_wait(ids: list[int]) -> list[float]:
    """The fan-in's (the sink's) wait for its inputs: from its start until they are all in memory."""
    from orchestrator.core import graph as graph_mod, spec as spec_mod

    out = []
    for run_id, spec in WorkflowRun.objects.filter(pk__in=ids).values_list("pk", "spec"):
        sink = graph_mod.sink(spec_mod.from_spec(spec))
        value = TaskRun.objects.filter(run_id=run_id, node_id=sink).values_list("input_wait_s", flat=True).first()
        if value is not None:
            out.append(float(value))
    return out


def _hit_rate_pct(ids: list[int]) -> list[float]:
    sent = hits = 0
    for opts in WorkflowRun.objects.filter(pk__in=ids).values_list("optimizations", flat=True):
        stats = (opts or {}).get("prewarm") or {}
        sent += int(stats.get("sent") or 0)
        hits += int(stats.get("hits") or 0)
    return [100.0 * hits / sent] if sent else []


def _within_pct(ids: list[int]) -> list[float]:
    runs = list(WorkflowRun.objects.filter(pk__in=ids))
    judged = [r.within_sla for r in runs if r.within_sla is not None]
    return [100.0 * sum(judged) / len(judged)] if judged else []


def _bytes_written(ids: list[int]) -> list[float]:
    """Outputs stored in Redis per run (MB): the tasks that uploaded theirs."""
    out = []
    for run_id in ids:
        sizes = TaskRun.objects.filter(run_id=run_id, uploaded=True).values_list("output_bytes", flat=True)
        out.append(sum(int(b or 0) for b in sizes) / 1e6)
    return out


def _remote_input_ready(ids: list[int]) -> list[float]:
    """Per run, the latest of: a consumer's inputs all in memory (its start + input wait) minus the end of
    its remote producer's function (start + input wait + exec), over the big inputs that travelled."""
    out = []
    for run_id in ids:
        recs = {r.node_id: r for r in TaskRun.objects.filter(run_id=run_id)}
        gaps = []
        for rec in recs.values():
            for entry in rec.inputs or ():
                up = recs.get(entry["node"])
                if entry.get("local") or up is None or int(entry.get("bytes") or 0) < 1 << 20:
                    continue
                made = up.start_s + (up.input_wait_s or 0.0) + (up.exec_s or 0.0)
                gaps.append(rec.start_s + (rec.input_wait_s or 0.0) - made)
        if gaps:
            out.append(max(gaps))
    return out


def _consumer_after_producer(ids: list[int]) -> list[float]:
    """How long after the generator task ended its digest did (the streaming consumer overlaps it)."""
    out = []
    for run_id in ids:
        ends = dict(TaskRun.objects.filter(run_id=run_id).values_list("function", "end_s"))
        made = ends.get("slaflow.workflows.stream_pipeline.frames")
        used = next((v for k, v in ends.items() if k.split(".")[-1].startswith("digest_")), None)
        if made is not None and used is not None:
            out.append(used - made)
    return out


def _cut_by(pct: float):
    return lambda off, on, change: change is not None and change <= -pct


def _not_slower_by(pct: float):
    return lambda off, on, change: change is not None and change <= pct


MAKESPAN_CUT = Metric("makespan_s", _makespans, -25.0, _cut_by(25.0))
INPUT_WAIT_CUT = Metric("fan_in_input_wait_s", _sink_input_wait, -50.0, _cut_by(50.0))
HITS = Metric(
    "prewarm_hit_pct", _hit_rate_pct, 80.0, lambda off, on, change: on is not None and on >= 80.0, aggregate=True
)
ANY_CUT = Metric("makespan_s", _makespans, 0.0, lambda off, on, change: change is not None and change < 0)
BYTES_CUT = Metric("mb_written", _bytes_written, -50.0, _cut_by(50.0))
MAKESPAN_CUT_20 = Metric("makespan_s", _makespans, -20.0, _cut_by(20.0))
INPUT_READY_CUT = Metric("remote_input_ready_s", _remote_input_ready, -30.0, _cut_by(30.0))
CONSUMER_AFTER_CUT = Metric("consumer_after_producer_s", _consumer_after_producer, -50.0, _cut_by(50.0))
NOT_SLOWER = Metric("makespan_s", _makespans, 5.0, _not_slower_by(5.0))
WITHIN = Metric(
    "within_promise_pct",
    _within_pct,
    90.0,
    lambda off, on, change: on is not None and abs(on - 90.0) <= 10.0,
    aggregate=True,
)


def scenarios() -> list[Scenario]:
    out = [
        Scenario(
            "straggler",
            "straggler",
            "taskdup",
            Variant("uniform", ()),
            Variant("uniform", ("taskdup",)),
            (MAKESPAN_CUT,),
        ),
        Scenario(
            "scattered_fanin",
            "scattered_fanin",
            "preload",
            Variant("uniform", ()),
            Variant("uniform", ("preload",)),
            (INPUT_WAIT_CUT,),
        ),
        Scenario(
            "cold_stage",
            "cold_stage",
            "prewarm",
            Variant("uniform", ()),
            Variant("uniform", ("prewarm",)),
            (HITS, ANY_CUT),
        ),
        Scenario(
            "big_fanout",
            "big_fanout",
            "wukong-opt",
            Variant("wukong", None),
            Variant("wukong-opt", None),
            (BYTES_CUT, MAKESPAN_CUT_20),
        ),
        Scenario(
            "tree_reduction",
            "tree_reduction",
            "wukong-opt",
            Variant("wukong", None),
            Variant("wukong-opt", None),
            (NOT_SLOWER, WITHIN),
            min_runs=10,
        ),
        Scenario(
            "big_transfer",
            "big_transfer",
            "streaming",
            Variant("wukong", ()),
            Variant("wukong", ("streaming",)),
            (INPUT_READY_CUT, ANY_CUT),
        ),
        Scenario(
            "stream_pipeline",
            "stream_pipeline",
            "generator streaming",
            Variant("uniform", (), {"streaming": 0}),
            Variant("uniform", (), {"streaming": 1}),
            (CONSUMER_AFTER_CUT, ANY_CUT),
        ),
    ]
    for workflow in ("tree_reduction", "text_analysis"):
        for base in ("uniform", "non-uniform"):
            out.append(
                Scenario(
                    workflow,
                    workflow,
                    f"{base}-opt",
                    Variant(base, None),
                    Variant(f"{base}-opt", None),
                    (NOT_SLOWER, WITHIN),
                    min_runs=10,
                )
            )
    return out


def names() -> list[str]:
    return sorted({s.name for s in scenarios()})


def _run(scenario: Scenario, variant: Variant, timeout_s: float) -> int:
    summary = runner.run_and_check(
        scenario.workflow,
        planner=variant.planner,
        sla=SLA,
        params={**scenario.params, **variant.params},
        timeout_s=timeout_s,
        optimizations=variant.optimizations,
    )
    if summary["status"] != "succeeded" or summary["correct"] is not True:
        raise RuntimeError(
            f"{scenario.workflow} under {variant.planner} {variant.optimizations}: "
            f"{summary['status']} (correct={summary['correct']}): {summary['error']}"
        )
    return int(summary["run_id"])


# What each optimization did in a run (its summary, ``services.optimization_stats``): the events counted.
_EVENTS = {
    "preload": ("inputs",),
    "prewarm": ("sent", "hits", "handed_off"),
    "taskdup": ("dups", "won"),
    "clustering": ("tasks", "delayed_hits"),
    "streaming": ("outputs", "items", "consumers"),
}


def fired(ids: list[int]) -> dict[str, dict[str, int]]:
    """Per optimization: in how many of the runs it acted, and its events summed over them."""
    out: dict[str, dict[str, int]] = {}
    for opts in WorkflowRun.objects.filter(pk__in=ids).values_list("optimizations", flat=True):
        for name, events in _EVENTS.items():
            stats = (opts or {}).get(name)
            if not stats or not any(stats.get(e) for e in events):
                continue
            got = out.setdefault(name, {"runs": 0, **{e: 0 for e in events}})
            got["runs"] += 1
            for e in events:
                got[e] += int(stats.get(e) or 0)
    return out


def fired_text(counts: dict[str, dict[str, int]], runs: int) -> str:
    """``taskdup 5/5 runs (dups 5, won 5)``; ``none`` when nothing acted."""
    if not counts:
        return "none"
    return "; ".join(
        f"{name} {c['runs']}/{runs} runs (" + ", ".join(f"{e} {c[e]}" for e in _EVENTS[name]) + ")"
        for name, c in sorted(counts.items())
    )


def _pct(off: float | None, on: float | None) -> float | None:
    if off is None or on is None or off == 0:
        return None
    return round(100.0 * (on - off) / off, 1)


def _value(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def measure(scenario: Scenario, *, repeat: int, warmup: int, timeout_s: float, progress=lambda msg: None) -> list[dict]:
    """Warm-up runs, then ``repeat`` (at least ``scenario.min_runs``) pairs of on and off runs."""
    for i in range(warmup):
        for variant in (scenario.off, scenario.on):
            progress(f"{scenario.name} {scenario.optimization}: warm-up {i + 1}/{warmup} ({variant.planner})")
            _run(scenario, variant, timeout_s)
    ids: dict[str, list[int]] = {"off": [], "on": []}
    pairs = max(repeat, scenario.min_runs)
    for i in range(pairs):
        order = ("off", "on") if i % 2 == 0 else ("on", "off")
        for which in order:
            progress(f"{scenario.name} {scenario.optimization}: pair {i + 1}/{pairs} ({which})")
            ids[which].append(_run(scenario, getattr(scenario, which), timeout_s))
    rows = []
    on_fired, off_fired = fired(ids["on"]), fired(ids["off"])
    for metric in scenario.metrics:
        off_values, on_values = metric.measure(ids["off"]), metric.measure(ids["on"])
        off, on = _value(off_values), _value(on_values)
        if metric.aggregate:
            change = None if off is None or on is None else round(on - off, 1)  # points, not a ratio
        else:
            change = _pct(off, on)
        rows.append(
            {
                "scenario": scenario.name,
                "optimization": scenario.optimization,
                "metric": metric.name,
                "off": off,
                "on": on,
                "change_pct": change,
                "target_pct": metric.target_pct,
                "met": bool(metric.met(off, on, change)),
                "runs": pairs,
                "off_range": [round(min(off_values), 4), round(max(off_values), 4)] if off_values else None,
                "on_range": [round(min(on_values), 4), round(max(on_values), 4)] if on_values else None,
                "off_runs": ids["off"],
                "on_runs": ids["on"],
                "on_fired": on_fired,
                "off_fired": off_fired,
                "fired": fired_text(on_fired, len(ids["on"])),
            }
        )
    return rows


def steps(chosen: list[str] | None, *, repeat: int, warmup: int) -> int:
    """How many runs ``bench`` makes (its progress steps): warm-ups and pairs of both variants."""
    return sum(2 * (warmup + max(repeat, s.min_runs)) for s in scenarios() if not chosen or s.name in chosen)


def bench(
    chosen: list[str] | None, *, repeat: int, warmup: int, timeout_s: float, progress=lambda msg: None
) -> list[dict]:
    rows = []
    for scenario in scenarios():
        if chosen and scenario.name not in chosen:
            continue
        rows.extend(measure(scenario, repeat=repeat, warmup=warmup, timeout_s=timeout_s, progress=progress))
    return rows


def table(rows: list[dict]) -> str:
    cols = [
        ("scenario", "{}"),
        ("optimization", "{}"),
        ("metric", "{}"),
        ("off", "{:.3f}"),
        ("on", "{:.3f}"),
        ("change_pct", "{:+.1f}"),
        ("target_pct", "{:+.0f}"),
        ("met", "{}"),
        ("runs", "{}"),
        ("fired", "{}"),
    ]
    cells = [[name for name, _ in cols]]
    for row in rows:
        cells.append(["-" if row.get(k) is None else fmt.format(row[k]) for k, fmt in cols])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    # Right-aligned numbers, the free text of the last column left-aligned.
    lines = ["  ".join(c.rjust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(
        "medians of the measured runs (on and off alternating, after warm-up runs of both); *_pct metrics "
        "are shares and their change is in points; fired: what the 'on' runs' optimizations did; "
        "ranges and run ids in --json."
    )
    return "\n".join(lines)
