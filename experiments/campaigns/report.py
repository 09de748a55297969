"""A campaign's figures (plain rows in, Plotly figures out) and its self-contained HTML report.

The same ``figures`` feed ``DIR/report.html`` (plotly.js inlined: it opens
offline, from a file) and the web UI's campaign page.
"""

from __future__ import annotations

import html as html_mod
import json
import statistics
from collections import defaultdict
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from experiments.campaigns import results
from orchestrator.core import sla as sla_mod
from orchestrator.models import Experiment
from reports import figures as wf
from reports.analysis import pareto_front, sla_order

# name → (title, what it shows), in page order; per-workflow figures are "<name>:<workflow>".
CAPTIONS = {
    "success": (
        "SLA success (share of runs within the promise made for them)",
        "planner × SLA over every workflow of the campaign; an honest planner at pN is within in about N % of runs",
    ),
    "prior": (
        "SLA success, prior system's measure",
        "a run succeeds when its makespan is at most the N-th percentile (average: the mean) of the earlier "
        "runs of the same workflow and inputs",
    ),
    "calibration": (
        "Calibration: promised percentile vs achieved share",
        "points on the diagonal are calibrated; below it promises are broken too often, above it they are too loose",
    ),
    "errors": (
        "Prediction error per metric",
        "median |predicted − observed| / observed per run; makespan is the plan's typical makespan",
    ),
    "warmcold": (
        "Warm and cold start-ups",
        "share of branches that started on a process already warm for the workflow",
    ),
    "optimizations": ("Optimization counts", "median per run of each optimization event, per planner"),
    "makespan": ("Makespan per planner · SLA", "each run's makespan; bars mark the promises"),
    "gbs": ("Cost per planner · SLA", "GB-seconds of each run"),
    "pareto": ("Cost vs makespan", "medians per planner · SLA; the dotted line joins the Pareto front"),
}


def _group(rows, key):
    out = defaultdict(list)
    for r in rows:
        out[key(r)].append(r)
    return out


def _cell_label(r) -> str:
    return f"{r['planner']} · {r['sla']}"


def _by_label(rows):
    return dict(
        sorted(_group(rows, _cell_label).items(), key=lambda kv: (kv[1][0]["planner"], sla_order(kv[1][0]["sla"])))
    )


def _median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _success_rows(rows, field: str) -> list[dict]:
    out = []
    for (planner, sla), rs in _group(rows, lambda r: (r["planner"], r["sla"])).items():
        judged = [r[field] for r in rs if r.get(field) is not None]
        out.append(
            {
                "planner": planner,
                "sla": sla,
                "judged": len(judged),
                "within": sum(judged),
                "rate": sum(judged) / len(judged) if judged else None,
            }
        )
    return out


def calibration_figure(success: list[dict]) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 100],
            y=[0, 100],
            mode="lines",
            name="calibrated",
            meta="diagonal",
            line=dict(color="#6b7280", dash="dot"),
        )
    )
    for i, planner in enumerate(sorted({r["planner"] for r in success})):
        mine = sorted(
            (r for r in success if r["planner"] == planner and r["rate"] is not None), key=lambda r: sla_order(r["sla"])
        )
        fig.add_trace(
            go.Scatter(
                x=[100 * sla_mod.parse(r["sla"]).promised_share for r in mine],
                y=[100 * r["rate"] for r in mine],
                mode="lines+markers+text",
                text=[r["sla"] for r in mine],
                textposition="top left",
                name=planner,
                meta=f"calibration:{planner}",
                marker=dict(size=10, color=wf.QUALITATIVE[i % len(wf.QUALITATIVE)]),
                customdata=[f"{r['within']}/{r['judged']}" for r in mine],
                hovertemplate="%{text}: %{y:.0f}% within (%{customdata})<extra>" + planner + "</extra>",
            )
        )
    wf._base_layout(fig, height=380)
    fig.update_xaxes(title="promised percentile (%)", range=[0, 102])
    fig.update_yaxes(title="runs within the promise (%)", range=[0, 105])
    return fig


def errors_figure(rows) -> go.Figure:
    fig = go.Figure()
    for i, (planner, rs) in enumerate(sorted(_group(rows, lambda r: r["planner"]).items())):
        meds = [_median(r.get(results._error_key(m)) for r in rs) for m in results.METRICS]
        fig.add_trace(
            go.Bar(
                x=list(results.METRICS),
                y=[None if v is None else 100 * v for v in meds],
                name=planner,
                meta=f"errors:{planner}",
                marker_color=wf.QUALITATIVE[i % len(wf.QUALITATIVE)],
            )
        )
    wf._base_layout(fig, height=340, barmode="group")
    fig.update_yaxes(title="median relative error (%)", rangemode="tozero")
    fig.update_xaxes(type="category")
    return fig


def figures(all_rows: list[dict]) -> dict[str, go.Figure]:
    """Every figure of the report, by name (per-workflow ones as ``name:workflow``)."""
    rows = results.measured(all_rows)
    if not rows:
        return {}
    success = _success_rows(rows, "within_promise")
    figs: dict[str, go.Figure] = {
        "success": wf.sla_matrix_figure([r for r in success if r["rate"] is not None] or success),
        "prior": wf.sla_matrix_figure(_success_rows(rows, "prior_within")),
        "calibration": calibration_figure(success),
        "errors": errors_figure(rows),
    }
    warm = {}
    for planner, rs in sorted(_group(rows, lambda r: r["planner"]).items()):
        w, c = sum(r.get("warm_starts") or 0 for r in rs), sum(r.get("cold_starts") or 0 for r in rs)
        warm[planner] = {"warm": 100 * w / (w + c) if w + c else 0.0, "cold": 100 * c / (w + c) if w + c else 0.0}
    figs["warmcold"] = wf.stacked_figure(warm, y_title="% of start-ups", colors={"warm": "#59a14f", "cold": "#9ecae9"})
    opts = {}
    for planner, rs in sorted(_group(rows, lambda r: r["planner"]).items()):
        names = sorted({k for r in rs for k in (r.get("optimizations") or {})})
        opts[planner] = {k: _median([(r.get("optimizations") or {}).get(k, 0) for r in rs]) or 0.0 for k in names}
    figs["optimizations"] = wf.stacked_figure(opts, y_title="events per run (median)")
    if not any(opts.values()):
        figs["optimizations"].add_annotation(
            text="no optimization events recorded in these runs",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
        )
    for workflow, rs in sorted(_group(rows, lambda r: r["workflow"]).items()):
        cells = _by_label(rs)
        figs[f"makespan:{workflow}"] = wf.box_figure(
            {k: [r["makespan_s"] for r in v if r.get("makespan_s") is not None] for k, v in cells.items()},
            y_title="makespan (s)",
            markers={k: [r["promise_s"] for r in v if r.get("promise_s") is not None] for k, v in cells.items()},
        )
        figs[f"gbs:{workflow}"] = wf.box_figure(
            {k: [r["gb_seconds"] for r in v if r.get("gb_seconds") is not None] for k, v in cells.items()},
            y_title="GB-seconds",
        )
        points = []
        for v in cells.values():
            cost, makespan = _median(r.get("gb_seconds") for r in v), _median(r.get("makespan_s") for r in v)
            if cost is not None and makespan is not None:
                points.append(
                    {
                        "planner": v[0]["planner"],
                        "sla": v[0]["sla"],
                        "cost": cost,
                        "makespan": makespan,
                        "source": "observed",
                    }
                )
        for p, front in zip(points, pareto_front([(p["cost"], p["makespan"]) for p in points])):
            p["pareto"] = front
        figs[f"pareto:{workflow}"] = wf.pareto_figure(points)
    return figs


def caption(name: str) -> tuple[str, str]:
    base, _, workflow = name.partition(":")
    title, what = CAPTIONS[base]
    return (f"{title} — {workflow}" if workflow else title), what


def summary_lines(exp: Experiment, all_rows: list[dict]) -> list[str]:
    """The table the command prints at the end (and the report shows)."""
    head = (
        f"{'workflow':<18} {'planner':<16} {'SLA':<8} {'runs':>4} {'within':>7} {'success':>8} {'prior':>6} "
        f"{'makespan':>9} {'promise':>9} {'GB-s':>8} {'err':>6}"
    )
    lines = [head, "-" * len(head)]

    def pct(x):
        return "-" if x is None else f"{100 * x:.0f}%"

    def num(x, fmt="{:.3f}"):
        return "-" if x is None else fmt.format(x)

    for c in results.cells(all_rows):
        lines.append(
            f"{c['workflow']:<18} {c['planner']:<16} {c['sla']:<8} {c['done']:>4} "
            f"{(str(c['within']) + '/' + str(c['judged'])):>7} {pct(c['rate']):>8} {pct(c['prior_rate']):>6} "
            f"{num(c['median_makespan_s']):>9} {num(c['median_promise_s']):>9} "
            f"{num(c['median_gb_seconds']):>8} {pct(c['median_error_makespan']):>6}"
        )
    facts = results.campaign_facts(exp, all_rows)
    lines.append(
        f"{facts['done']} of {facts['runs']} runs done ({facts['failed']} failed for infrastructure "
        f"reasons); wall {facts['wall_s']:.1f} s; planning {facts['planning_s']:.1f} s"
        + (f" ({100 * facts['planning_share']:.1f} % of the wall time)" if facts["planning_share"] else "")
    )
    if facts["nonuniform_over_uniform_gb"]:
        lines.append(f"GB-seconds, median run: non-uniform / uniform = {facts['nonuniform_over_uniform_gb']:.2f}")
    return lines


def render_html(exp: Experiment, all_rows: list[dict]) -> str:
    """The self-contained report page (plotly.js inlined)."""
    figs = figures(all_rows)
    esc = html_mod.escape
    machine = exp.machine or {}
    blocks = []
    for name, fig in figs.items():
        title, what = caption(name)
        blocks.append(
            f'<section><h2>{esc(title)}</h2><p class="what">{esc(what)}</p>'
            f'<div class="figure" id="fig-{esc(name)}" data-name="{esc(name)}"></div>'
            f'<script type="application/json" id="data-{esc(name)}">{fig.to_json()}</script></section>'
        )
    if not figs:
        blocks.append("<p><b>No measured run has finished yet.</b></p>")
    args = exp.arguments
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>slaflow experiment {exp.pk}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#111827}}
pre{{background:#f3f4f6;padding:1em;overflow-x:auto;font-size:12px}}.what{{color:#6b7280;font-size:13px}}
section{{margin:2em 0}}</style>
<script>{get_plotlyjs()}</script></head><body>
<h1>slaflow SLA experiment {exp.pk}{(" — " + esc(exp.name)) if exp.name else ""}</h1>
<p>Status <b>{esc(exp.status)}</b>, {exp.done_runs} of {exp.total_runs} runs;
workflows {esc(", ".join(args.get("workflows", [])))};
planners {esc(", ".join(args.get("planners", [])))}; SLAs {esc(", ".join(args.get("slas", [])))};
{args.get("iterations")} runs per cell after {args.get("warmup")} warm-up runs per workflow × planner;
seed {exp.seed}.</p>
<p>Machine: {esc(str(machine.get("host", "?")))}, {machine.get("cores", "?")} cores,
{machine.get("memory_gb", "?")} GB;
resource limits {"enforced" if machine.get("limits_enforced") else "NOT enforced"}.</p>
<pre>{esc(chr(10).join(summary_lines(exp, all_rows)))}</pre>
{"".join(blocks)}
<script>
document.querySelectorAll(".figure").forEach(function (el) {{
  var fig = JSON.parse(document.getElementById("data-" + el.dataset.name).textContent);
  Plotly.newPlot(el, fig.data, fig.layout, {{responsive: true, displaylogo: false}}).then(function () {{
    el.dataset.rendered = "1";
  }});
}});
</script></body></html>"""


def figure_payloads(all_rows: list[dict]) -> list[dict]:
    """For the web UI: name, title, caption and figure JSON of each figure."""
    out = []
    for name, fig in figures(all_rows).items():
        title, what = caption(name)
        slug = name.replace(":", "-").replace("_", "-")
        out.append(
            {
                "name": name,
                "slug": slug,
                "data_id": f"data-{slug}",
                "title": title,
                "what": what,
                "json": json.loads(fig.to_json()),
            }
        )
    return out


def write_files(exp: Experiment) -> None:
    """results.csv and report.html in the campaign's directory."""
    out = Path(exp.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    all_rows = results.rows(exp)
    results.write_csv(out / "results.csv", all_rows)
    (out / "report.html").write_text(render_html(exp, all_rows), encoding="utf-8")
